//! Fuzzes what a node reads from the bus: a message between nodes and a name's claim in the
//! names bucket. Whatever another node (or anyone on NATS) sends is refused or read, never a
//! panic; what is read writes back to bytes that read as the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::bus::{BusMsg, Claim};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = BusMsg::decode(data) {
        assert_eq!(BusMsg::decode(&msg.to_bytes()).unwrap(), msg);
    }
    if let Ok(claim) = Claim::decode(data) {
        assert_eq!(Claim::decode(&claim.to_bytes()).unwrap(), claim);
    }
});
