//! xenflux keeps a Xen + DRBD + LVM + OCFS2 cluster in line with a desired state kept as YAML in
//! Git. Data flows one way: load → validate → desired model → (with observed state) plan →
//! execute. See docs/architecture.md for the module map.

pub mod alloc;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controller;
pub mod diag;
pub mod drivers;
pub mod exec;
pub mod fsutil;
pub mod generate;
pub mod ha;
pub mod import;
pub mod load;
pub mod model;
pub mod notify;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod schema;
pub mod sim;
pub mod target;
pub mod transport;
pub mod validate;
