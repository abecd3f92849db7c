//! The check a signer makes before it signs a new checkpoint: the tree it is
//! about to sign must be a consistent extension of the last checkpoint it
//! signed. A ledger whose stored tree was altered below the API would
//! otherwise sign a second history that contradicts the first, and every
//! auditor holding the old checkpoint would be told a rewrite is the truth.
//!
//! Pure: the caller reads the last stored note, the new root and the
//! consistency proof from its ledger and hands them over.

use crate::checkpoint::{open_checkpoint, CheckpointError, NoteVerifier};
use crate::hash::{Blake3Hasher, Hash};
use crate::merkle::{verify_consistency, VerifyError};

/// The last checkpoint the ledger signed, as stored.
#[derive(Debug, Clone, Copy)]
pub struct LastSigned<'a> {
    /// The tree size it is stored under.
    pub size: u64,
    /// The signed note.
    pub note: &'a str,
}

/// The tree about to be signed.
#[derive(Debug, Clone, Copy)]
pub struct NextTree<'a> {
    /// The ledger's origin.
    pub origin: &'a str,
    /// Its size.
    pub size: u64,
    /// Its root, from the stored tree.
    pub root: &'a Hash,
    /// The consistency proof from `last.size` to `size`, from the stored tree.
    pub proof: &'a [Hash],
}

/// Why a new checkpoint must not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefuseToSign {
    /// The stored last checkpoint does not open with the ledger's own key.
    #[error(
        "the last stored checkpoint (size {size}) does not verify with this ledger's key: {source}"
    )]
    LastDoesNotVerify {
        /// The size it is stored under.
        size: u64,
        /// Why.
        source: CheckpointError,
    },
    /// The stored last checkpoint is for another ledger or another size.
    #[error(
        "the last stored checkpoint, stored as size {stored}, is for size {signed} of {origin:?}"
    )]
    LastMislabelled {
        /// The size it is stored under.
        stored: u64,
        /// The size it signs.
        signed: u64,
        /// The origin it names.
        origin: String,
    },
    /// The new tree is smaller than the signed one.
    #[error("the ledger holds {size} entries, fewer than the {signed} of its last checkpoint")]
    Shrunk {
        /// The new size.
        size: u64,
        /// The signed size.
        signed: u64,
    },
    /// The stored tree does not extend the signed one.
    #[error(
        "the stored tree of size {size} is not a consistent extension of the signed checkpoint \
         of size {signed} ({source}): the stored tree was altered; run `cairn verify`"
    )]
    Inconsistent {
        /// The new size.
        size: u64,
        /// The signed size.
        signed: u64,
        /// What the proof check found.
        source: VerifyError,
    },
}

/// `Ok` when `next` consistently extends `last`, as signed by `verifier`.
pub fn check_extends(
    last: LastSigned<'_>,
    verifier: &NoteVerifier,
    next: NextTree<'_>,
) -> Result<(), RefuseToSign> {
    let signed = open_checkpoint(last.note, verifier)
        .map_err(|source| RefuseToSign::LastDoesNotVerify {
            size: last.size,
            source,
        })?
        .checkpoint;
    if signed.size != last.size || signed.origin != next.origin {
        return Err(RefuseToSign::LastMislabelled {
            stored: last.size,
            signed: signed.size,
            origin: signed.origin,
        });
    }
    if next.size < signed.size {
        return Err(RefuseToSign::Shrunk {
            size: next.size,
            signed: signed.size,
        });
    }
    verify_consistency(
        &Blake3Hasher,
        signed.size,
        next.size,
        &signed.root,
        next.root,
        next.proof,
    )
    .map_err(|source| RefuseToSign::Inconsistent {
        size: next.size,
        signed: signed.size,
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checkpoint::{Checkpoint, NoteSigner};
    use crate::merkle::{consistency_proof, MemoryTree};

    const ORIGIN: &str = "test.example/signing";

    fn tree(leaves: &[u8]) -> MemoryTree<Blake3Hasher> {
        MemoryTree::from_leaves(Blake3Hasher, leaves.iter().map(|&b| [b; 32]))
    }

    fn note(signer: &NoteSigner, size: u64, root: Hash) -> String {
        signer.sign_checkpoint(&Checkpoint {
            origin: ORIGIN.into(),
            size,
            root,
            extensions: vec![],
        })
    }

    #[test]
    fn an_extension_passes_and_a_rewritten_history_is_refused() {
        let signer = NoteSigner::new(ORIGIN, &[3; 32]).unwrap();
        let key = signer.verifier();
        let old = tree(&[1, 2, 3]);
        let last_note = note(&signer, 3, old.root());
        let last = LastSigned {
            size: 3,
            note: &last_note,
        };
        let check = |t: &MemoryTree<Blake3Hasher>| {
            let proof = consistency_proof(&Blake3Hasher, t, 3, 5).unwrap();
            let root = t.root();
            check_extends(
                last,
                &key,
                NextTree {
                    origin: ORIGIN,
                    size: 5,
                    root: &root,
                    proof: &proof,
                },
            )
        };
        assert_eq!(check(&tree(&[1, 2, 3, 4, 5])), Ok(()));
        // Leaf 1 rewritten: the stored tree's own proof cannot reach the signed root.
        assert!(matches!(
            check(&tree(&[1, 9, 3, 4, 5])),
            Err(RefuseToSign::Inconsistent {
                size: 5,
                signed: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_last_checkpoint_that_does_not_verify_or_is_mislabelled_is_refused() {
        let signer = NoteSigner::new(ORIGIN, &[3; 32]).unwrap();
        let other = NoteSigner::new(ORIGIN, &[4; 32]).unwrap();
        let t = tree(&[1, 2]);
        let root = t.root();
        let next = NextTree {
            origin: ORIGIN,
            size: 2,
            root: &root,
            proof: &[],
        };
        let forged = note(&other, 2, root);
        let r = check_extends(
            LastSigned {
                size: 2,
                note: &forged,
            },
            &signer.verifier(),
            next,
        );
        assert!(matches!(
            r,
            Err(RefuseToSign::LastDoesNotVerify { size: 2, .. })
        ));
        let ours = note(&signer, 2, root);
        let r = check_extends(
            LastSigned {
                size: 1,
                note: &ours,
            },
            &signer.verifier(),
            next,
        );
        assert!(matches!(
            r,
            Err(RefuseToSign::LastMislabelled {
                stored: 1,
                signed: 2,
                ..
            })
        ));
        let r = check_extends(
            LastSigned {
                size: 2,
                note: &ours,
            },
            &signer.verifier(),
            NextTree { size: 1, ..next },
        );
        assert!(matches!(
            r,
            Err(RefuseToSign::Shrunk { size: 1, signed: 2 })
        ));
    }
}
