//! History belongs to an identity: an account's is its own across sessions and restarts; a
//! guest's is its session's alone, and a later guest of the same name reads none of it.

use crate::support::{start_with_accounts, Hub, WAIT};
use crate::web::{answer, open_ws, Web};
use serde_json::{json, Value};

/// The texts of `/api/history?with=OTHER`, and the names of `/api/conversations`, as `web`.
async fn seen_by(web: &Web, other: &str) -> (Vec<String>, Value) {
    let (status, history) = web.get(&format!("/api/history?with={other}")).await;
    assert_eq!(status, 200);
    let texts = history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().into()).collect();
    let (status, conversations) = web.get("/api/conversations").await;
    assert_eq!(status, 200);
    (texts, conversations["conversations"].clone())
}

async fn sign_out(web: &Web) {
    let response = web.http.delete(format!("{}/api/session", web.base)).bearer_auth(&web.token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn a_reused_guest_name_does_not_inherit_private_history() {
    let hub = start_with_accounts(&[("alice", "pw")]).await;
    let alice = Web::sign_in_with(&hub, json!({ "name": "alice", "password": "pw" })).await;
    let carol = Web::sign_in(&hub, "carol").await;
    carol.say("alice", "psst, it is carol").await;
    alice.say("carol", "hello carol").await;
    let both = vec!["psst, it is carol".to_owned(), "hello carol".to_owned()];
    assert_eq!(seen_by(&carol, "alice").await, (both.clone(), json!(["alice"])));
    sign_out(&carol).await;

    // Another guest takes the name, in another case: it reads nothing of the first's.
    let carol2 = sign_in_when_free(&hub, "CAROL").await;
    assert_eq!(seen_by(&carol2, "alice").await, (vec![], json!([])));
    // Alice's history is hers: she still has both.
    assert_eq!(seen_by(&alice, "carol").await, (both.clone(), json!(["carol"])));
    sign_out(&carol2).await;
    sign_out(&alice).await;

    // Across a restart too: the account keeps its history, a new guest gets none.
    let hub = hub.restart().await;
    let carol3 = Web::sign_in(&hub, "carol").await;
    assert_eq!(seen_by(&carol3, "alice").await, (vec![], json!([])));
    let alice = Web::sign_in_with(&hub, json!({ "name": "alice", "password": "pw" })).await;
    assert_eq!(seen_by(&alice, "carol").await, (both, json!(["carol"])));
    hub.stop().await;
}

/// Signs `name` in as a guest as soon as its last holder's session has ended (a sign-out
/// ends it an instant after its answer).
async fn sign_in_when_free(hub: &Hub, name: &str) -> Web {
    let http = reqwest::Client::new();
    let base = format!("http://{}", hub.web);
    let free = async {
        loop {
            let request = http.post(format!("{base}/api/session")).json(&json!({ "name": name }));
            let (status, body) = answer(request.send().await.unwrap()).await;
            if status != 409 {
                return (status, body);
            }
            tokio::task::yield_now().await;
        }
    };
    let (status, session) = tokio::time::timeout(WAIT, free).await.expect("the name never came free");
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let ws = open_ws(hub, &token).await;
    Web { http, base, token, name: session["name"].as_str().unwrap().to_owned(), ws }
}
