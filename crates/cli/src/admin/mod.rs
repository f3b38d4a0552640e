//! Administering a hub's state, whether it runs or not: `accounts`, the JPC `whitelist`, the
//! cluster's state in JetStream (`cluster`: `--cluster` for the two others, and `cluster
//! import`), and the data folder's store (`data`: `store check`, `store recover`).

pub(crate) mod accounts;
pub(crate) mod cluster;
pub(crate) mod data;
pub(crate) mod whitelist;
