//! Salesforce record ids.
//!
//! A 15-character id is case-sensitive: a 3-character key prefix naming the
//! object (`500` Case), 2 characters of pod, 1 reserved character and 9
//! base-62 digits. The 18-character form appends a 3-character checksum that
//! encodes which of the 15 characters are upper case, so the id survives tools
//! that compare case-insensitively. The REST API always answers with 18.
//!
//! ```
//! use casebridge_emulator::ids;
//! assert_eq!(ids::to_18("001A0000006Vm9r").as_deref(), Some("001A0000006Vm9rIAC"));
//! assert_eq!(ids::normalize("001A0000006Vm9rIAC").as_deref(), Some("001A0000006Vm9rIAC"));
//! assert_eq!(ids::normalize("001A0000006Vm9rAAA"), None);
//! ```

use std::borrow::Cow;

/// The pod and reserved characters every emulator id carries (a real org's
/// look: `5005g00000AbCdE`).
const POD: &str = "5g0";

/// Base-62 digits in the order Salesforce uses; it matches ASCII order, so ids
/// created later sort after earlier ones.
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum alphabet: index = the 5 "is upper case" bits of a chunk.
const CHECKSUM_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// A new 18-character id for the `counter`-th record of the object with this key prefix.
///
/// The counter is written as 9 base-62 digits (it wraps past 62^9, far beyond
/// what an emulator stores).
pub fn new_id(key_prefix: &str, counter: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut n = counter;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // Built in place: a bulk load makes hundreds of thousands of these.
    let mut id = String::with_capacity(18);
    id.push_str(key_prefix);
    id.push_str(POD);
    id.push_str(std::str::from_utf8(&digits).expect("ascii digits"));
    let sum = checksum_bytes(id.as_bytes());
    id.push_str(std::str::from_utf8(&sum).expect("ascii checksum"));
    id
}

/// Salesforce's case-safe checksum of a 15-character id: for each 5-character
/// chunk, bit `i` is set when character `i` is an upper-case letter, and the
/// 5-bit number picks a character of `A…Z0…5`.
///
/// The input is assumed to be 15 ASCII characters; shorter input is checksummed
/// as if padded with non-letters.
pub fn checksum(id15: &str) -> String {
    checksum_bytes(id15.as_bytes()).iter().map(|&b| b as char).collect()
}

fn checksum_bytes(id15: &[u8]) -> [u8; 3] {
    let mut sum = [0u8; 3];
    for (chunk, out) in sum.iter_mut().enumerate() {
        let bits = (0..5).fold(0usize, |acc, i| match id15.get(chunk * 5 + i) {
            Some(b) if b.is_ascii_uppercase() => acc | (1 << i),
            _ => acc,
        });
        *out = CHECKSUM_ALPHABET[bits];
    }
    sum
}

/// The 18-character form of a 15-character id; `None` if it is not 15 alphanumerics.
pub fn to_18(id15: &str) -> Option<String> {
    if id15.len() != 15 || !id15.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(format!("{id15}{}", checksum(id15)))
}

/// Accepts a 15- or 18-character id and returns the 18-character form.
///
/// `None` when the length or the characters are wrong, or when an
/// 18-character id's checksum does not match its first 15 characters (the
/// checksum itself is compared case-insensitively, as Salesforce does).
pub fn normalize(id: &str) -> Option<String> {
    canonical(id).map(Cow::into_owned)
}

/// [`normalize`] without a copy when `id` already is the 18-character form
/// (as every id the org stores and hands out is).
pub fn canonical(id: &str) -> Option<Cow<'_, str>> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => to_18(id).map(Cow::Owned),
        18 => {
            let sum = checksum_bytes(&id.as_bytes()[..15]);
            let given = &id.as_bytes()[15..];
            if given == sum {
                Some(Cow::Borrowed(id))
            } else if given.eq_ignore_ascii_case(&sum) {
                Some(Cow::Owned(format!("{}{}", &id[..15], std::str::from_utf8(&sum).ok()?)))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The 3-character key prefix of a well-formed id.
pub fn key_prefix(id: &str) -> Option<&str> {
    id.get(..3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 15 → 18 pairs of real ids published in write-ups of the case-safe
    /// checksum (Salesforce Help's worked example `500x000000003TR`, and
    /// community articles).
    const KNOWN_PAIRS: &[(&str, &str)] = &[
        ("500x000000003TR", "500x000000003TRAAY"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("0019000000B98de", "0019000000B98deAAB"),
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
    ];

    #[test]
    fn checksum_matches_known_salesforce_ids() {
        for (id15, id18) in KNOWN_PAIRS {
            assert_eq!(to_18(id15).as_deref(), Some(*id18), "{id15}");
            assert_eq!(normalize(id18).as_deref(), Some(*id18), "{id18}");
        }
    }

    #[test]
    fn new_ids_are_valid_and_sort_in_creation_order() {
        let a = new_id("500", 1);
        let b = new_id("500", 62);
        let c = new_id("500", 1_000_000);
        for id in [&a, &b, &c] {
            assert_eq!(id.len(), 18);
            assert!(id.starts_with("500"));
            assert_eq!(normalize(id).as_ref(), Some(id));
        }
        assert!(a < b && b < c);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("001A0000006Vm9"), None); // 14
        assert_eq!(normalize("001A0000006Vm9r-AC"), None); // bad char
        assert_eq!(normalize("001A0000006Vm9rIAD"), None); // wrong checksum
        assert_eq!(normalize("001A0000006Vm9ré"), None); // non-ASCII, 16 bytes
        assert_eq!(normalize("001A0000006Vm9rIA\u{e9}"), None); // 19 bytes
        assert_eq!(normalize("001A0000006Vm9riac").as_deref(), Some("001A0000006Vm9rIAC"));
    }
}
