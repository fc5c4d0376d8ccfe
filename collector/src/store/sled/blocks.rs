//! The sealed blocks' bytes, in a file of their own beside sled's (`sealed.blocks`), read with
//! `pread`: sled 0.34 keeps every node it reads (its cache's limit applies per shard only after 64
//! reads, and its default is larger than every block together at a million answers), so blocks
//! read through it by an export, a backup or a duplicate check stayed resident for as long as the
//! collector ran (30 MB at a million answers; the README's "What an export leaves held"). Read
//! from this file, a block costs its bytes while it is read and nothing after.
//!
//! The file is only appended to. The `sealed` tree keeps, under each block's key, where its bytes
//! are ([`super::format::block_pointer`]), written only once they are synced: a crash between the
//! two leaves bytes no pointer names, which are never read (the records they copied are still in
//! `responses`, sealed again later). No code for the file's format is needed beyond offset and
//! length, hence no crate.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    os::unix::fs::FileExt,
    path::Path,
    sync::Mutex,
};

use crate::store::StoreError;

/// The file's name in the store's folder.
pub(super) const FILE: &str = "sealed.blocks";

/// The open file of sealed blocks.
#[derive(Debug)]
pub(super) struct BlockFile {
    file: File,
    /// Held while appending, so an offset read is the one the bytes land at.
    append: Mutex<()>,
}

impl BlockFile {
    /// Opens (or creates) the file in the store's folder `dir`.
    pub(super) fn open(dir: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(dir.join(FILE))?;
        Ok(Self {
            file,
            append: Mutex::new(()),
        })
    }

    /// Appends a block's bytes; returns the offset they start at. Not durable until [`Self::sync`].
    /// What an earlier append left half written (a full disk) stays before them, unnamed.
    pub(super) fn append(&self, block: &[u8]) -> Result<u64, StoreError> {
        let _one = self.append.lock().unwrap_or_else(|p| p.into_inner());
        let offset = self.file.metadata()?.len();
        (&self.file).write_all(block)?;
        Ok(offset)
    }

    /// Makes every append so far durable.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data()?;
        Ok(())
    }

    /// The `len` bytes at `offset`: the block keyed `key` (named in the error when the file is
    /// shorter than the store says).
    pub(super) fn read(&self, key: u64, offset: u64, len: u32) -> Result<Vec<u8>, StoreError> {
        let mut bytes = vec![0; len as usize];
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::UnexpectedEof => StoreError::Corrupt { key },
                _ => error.into(),
            })?;
        Ok(bytes)
    }
}
