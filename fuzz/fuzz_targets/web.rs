//! Fuzzes the web client's JSON: every body and WebSocket message the server parses. No input
//! may panic, and whatever parses serialises and parses back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::web::{ClientEvent, MessageRequest, SessionRequest};
use serde::{de::DeserializeOwned, Serialize};

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&value).unwrap();
        assert_eq!(serde_json::from_slice::<T>(&again).unwrap(), value);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<SessionRequest>(data);
    round_trip::<MessageRequest>(data);
    round_trip::<ClientEvent>(data);
});
