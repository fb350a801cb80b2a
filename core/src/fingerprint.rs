/// FNV-1a (64 bits) of a spec's text: how core/build.rs tells that `core/specs-index.json`
/// was written from the text it embeds (a stale entry is not used). Included by build.rs and by
/// the registry's tests, which write that file; not a defence against anyone, only against a
/// forgotten update.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
