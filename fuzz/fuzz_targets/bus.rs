//! Fuzzes what a node reads from the bus and from JetStream: a message between nodes, a
//! name's claim, an entry of the cluster's log, an account, a device, a bucket's key, and a
//! frame of a private link between nodes. Whatever another node (or anyone on NATS) sends is refused or read, never a
//! panic; what is read writes back to bytes that read as the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::bus::{key_name, name_key, AccountValue, BusMsg, Holding, DeviceValue, LinkFrame, LogMsg};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = BusMsg::decode(data) {
        assert_eq!(BusMsg::decode(&msg.to_bytes()).unwrap(), msg);
    }
    if let Ok(claim) = Holding::decode(data) {
        assert_eq!(Holding::decode(&claim.to_bytes()).unwrap(), claim);
    }
    if let Ok(entry) = LogMsg::decode(data) {
        assert_eq!(LogMsg::decode(&entry.to_bytes()).unwrap(), entry);
    }
    if let Ok(account) = AccountValue::decode(data) {
        assert_eq!(AccountValue::decode(&account.to_bytes()).unwrap(), account);
    }
    if let Ok(device) = DeviceValue::decode(data) {
        assert_eq!(DeviceValue::decode(&device.to_bytes()).unwrap(), device);
    }
    if let Ok(frame) = LinkFrame::decode(bytes::Bytes::copy_from_slice(data)) {
        assert_eq!(frame.to_bytes(), data);
    }
    if let Some(name) = std::str::from_utf8(data).ok().and_then(key_name) {
        assert_eq!(name_key(&name), std::str::from_utf8(data).unwrap().to_ascii_lowercase());
    }
});
