//! Node loss (DESIGN.md §8): the fence runner ([`fence`]), the records of fenced nodes and of
//! failed-over domains in `STATE_DIR/ha/` ([`record`]), and the failover decision. Never starts
//! anything on a node whose peer was not fenced: what starts where is the planner's, and every
//! change goes through [`crate::reconcile::apply`].

pub mod fence;
pub mod record;
