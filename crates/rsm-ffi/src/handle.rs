//! Handle tables: what the opaque C handles stand for.
//!
//! A handle is a pointer *value* that is never dereferenced. It encodes
//!
//! ```text
//!  63            32 31                  4 3    0
//! +----------------+----------------------+------+
//! |   generation   |   slot index (28 b)  | tag  |
//! +----------------+----------------------+------+
//! ```
//!
//! The tag says which table (controller, export, import, local memory, barrier); tags are
//! odd, so an ordinary (aligned) pointer never decodes as a handle. A slot's generation starts
//! at 1 and moves on each time the slot is freed, so a released, destroyed or double-freed
//! handle no longer matches its slot. Any value that does not decode to a live slot of the
//! expected table is simply not found.
//!
//! Lookups take the table's reader lock just long enough to clone the object (an `Arc`
//! inside), so a call that blocks (a signal wait) never holds a table lock.

use std::ffi::c_void;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Tag of controller handles.
pub(crate) const TAG_CONTROLLER: u64 = 0x1;
/// Tag of export segment handles.
pub(crate) const TAG_EXPORT: u64 = 0x3;
/// Tag of import segment handles.
pub(crate) const TAG_IMPORT: u64 = 0x5;
/// Tag of local memory handles.
pub(crate) const TAG_LOCALMEM: u64 = 0x7;
/// Tag of barriers (the `privdata` of an `rsmapi_barrier_t`).
pub(crate) const TAG_BARRIER: u64 = 0x9;

const TAG_BITS: u32 = 4;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const INDEX_BITS: u32 = 28;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// Most slots a table can have.
const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// The tag of a handle value (0 for NULL and for ordinary aligned pointers).
pub(crate) fn tag_of(h: *const c_void) -> u64 {
    (h as usize as u64) & TAG_MASK
}

/// The result of looking a handle up.
#[derive(Debug)]
pub(crate) enum Lookup<T> {
    /// A live object.
    Live(T),
    /// A handle of this table whose object was released or destroyed.
    Stale,
    /// Anything else: NULL, another table's handle, garbage.
    Invalid,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// The slots of a table, reached under its lock.
pub(crate) struct Slots<T> {
    tag: u64,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Slots<T> {
    fn encode(&self, index: usize, generation: u32) -> *mut c_void {
        let v = (u64::from(generation) << 32) | ((index as u64) << TAG_BITS) | self.tag;
        v as usize as *mut c_void
    }

    fn decode(&self, h: *const c_void) -> Option<(usize, u32)> {
        let v = h as usize as u64;
        if v & TAG_MASK != self.tag {
            return None;
        }
        let generation = (v >> 32) as u32;
        if generation == 0 {
            return None;
        }
        Some((((v >> TAG_BITS) & INDEX_MASK) as usize, generation))
    }

    /// Stores `value` and returns its new handle (`None` when the table is full).
    pub(crate) fn insert(&mut self, value: T) -> Option<*mut c_void> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                if self.slots.len() >= MAX_SLOTS {
                    return None;
                }
                self.slots.push(Slot { generation: 1, value: None });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.value = Some(value);
        let generation = slot.generation;
        Some(self.encode(index, generation))
    }

    /// The live object of `h`.
    pub(crate) fn get_mut(&mut self, h: *const c_void) -> Lookup<&mut T> {
        let Some((index, generation)) = self.decode(h) else { return Lookup::Invalid };
        match self.slots.get_mut(index) {
            Some(Slot { generation: g, value: Some(v) }) if *g == generation => Lookup::Live(v),
            Some(_) => Lookup::Stale,
            None => Lookup::Invalid,
        }
    }

    fn get(&self, h: *const c_void) -> Lookup<&T> {
        let Some((index, generation)) = self.decode(h) else { return Lookup::Invalid };
        match self.slots.get(index) {
            Some(Slot { generation: g, value: Some(v) }) if *g == generation => Lookup::Live(v),
            Some(_) => Lookup::Stale,
            None => Lookup::Invalid,
        }
    }

    /// Removes the live object of `h` and retires the handle.
    pub(crate) fn remove(&mut self, h: *const c_void) -> Option<T> {
        let (index, generation) = self.decode(h)?;
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation || slot.value.is_none() {
            return None;
        }
        let v = slot.value.take();
        slot.generation = match slot.generation.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        self.free.push(index as u32);
        v
    }

    /// The handle of the first live object for which `pred` holds.
    pub(crate) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<*mut c_void> {
        self.slots.iter().enumerate().find_map(|(i, s)| match &s.value {
            Some(v) if pred(v) => Some(self.encode(i, s.generation)),
            _ => None,
        })
    }
}

/// A process-wide table of one kind of handle.
pub(crate) struct Table<T> {
    slots: RwLock<Slots<T>>,
}

impl<T: Clone> Table<T> {
    /// An empty table whose handles carry `tag`.
    pub(crate) const fn new(tag: u64) -> Table<T> {
        Table { slots: RwLock::new(Slots { tag, slots: Vec::new(), free: Vec::new() }) }
    }

    /// The table under its writer lock (a panic elsewhere never poisons it for good).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Slots<T>> {
        self.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Slots<T>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `value`; `None` when the table is full.
    pub(crate) fn insert(&self, value: T) -> Option<*mut c_void> {
        self.write().insert(value)
    }

    /// A clone of the live object of `h`.
    pub(crate) fn lookup(&self, h: *const c_void) -> Lookup<T> {
        match self.read().get(h) {
            Lookup::Live(v) => Lookup::Live(v.clone()),
            Lookup::Stale => Lookup::Stale,
            Lookup::Invalid => Lookup::Invalid,
        }
    }

    /// A clone of the live object of `h`, or `err`.
    pub(crate) fn get(&self, h: *const c_void, err: rsm::Error) -> rsm::Result<T> {
        match self.lookup(h) {
            Lookup::Live(v) => Ok(v),
            Lookup::Stale | Lookup::Invalid => Err(err),
        }
    }

    /// Removes the live object of `h`.
    pub(crate) fn remove(&self, h: *const c_void) -> Option<T> {
        self.write().remove(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_generation_tagged() {
        let t: Table<u32> = Table::new(TAG_IMPORT);
        let other: Table<u32> = Table::new(TAG_EXPORT);
        let a = t.insert(7).unwrap();
        assert_eq!(tag_of(a), TAG_IMPORT);
        assert!(!a.is_null());
        assert!(matches!(t.lookup(a), Lookup::Live(7)));
        // Wrong table, NULL, garbage, aligned pointers.
        assert!(matches!(other.lookup(a), Lookup::Invalid));
        assert!(matches!(t.lookup(std::ptr::null()), Lookup::Invalid));
        let x = 5u64;
        assert!(matches!(t.lookup((&raw const x).cast()), Lookup::Invalid));
        assert!(matches!(t.lookup(0xdead_beef_usize as *const c_void), Lookup::Invalid));
        assert!(matches!(t.lookup(0x5 as *const c_void), Lookup::Invalid));
        // Removed: stale, and a second remove finds nothing.
        assert_eq!(t.remove(a), Some(7));
        assert!(matches!(t.lookup(a), Lookup::Stale));
        assert_eq!(t.remove(a), None);
        // The slot is reused under a new generation; the old handle stays dead.
        let b = t.insert(8).unwrap();
        assert_ne!(a, b);
        assert!(matches!(t.lookup(a), Lookup::Stale));
        assert!(matches!(t.lookup(b), Lookup::Live(8)));
        assert_eq!(t.get(a, rsm::Error::BadSegHndl), Err(rsm::Error::BadSegHndl));
        assert_eq!(t.write().find(|v| *v == 8), Some(b));
    }
}
