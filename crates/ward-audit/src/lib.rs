//! Audit controls (HIPAA §164.312(b)): IHE BALP AuditEvents built from typed audit records, the
//! tamper-evident hash chain that links them, Ed25519-signed checkpoints, and the verifier that
//! names the first record that was edited, deleted, inserted, reordered or truncated.
//!
//! Storage is not here: backends append `(seq, prev_hash, hash, body)` rows atomically with the
//! data they describe, and hand them back to [`verify`] in `seq` order.

mod chain;
mod checkpoint;
pub mod describe;
mod event;
pub mod export;
mod purge;
mod verify;

pub use chain::{GENESIS, link_hash};
pub use checkpoint::{AuditSigningKey, Checkpoint, CheckpointKeyError};
pub use event::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
pub use purge::{PURGE_SUBTYPE, PurgeNote};
pub use verify::{ChainRow, Verifier, VerifyError, VerifyReport, verify};
