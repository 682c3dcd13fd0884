//! Salesforce record Ids in their three written forms.
//!
//! A record Id is 15 case-sensitive characters; the 18-character form adds a
//! 3-character checksum that encodes which of the 15 are upper case, so it
//! survives case-insensitive systems (spreadsheets, URLs typed by people). The
//! REST API returns the 18-character form; people paste any of the three:
//!
//! ```
//! use casebridge_guest::salesforce::ids::canonical_id;
//! let id = "500Ws00000AbCdEIAV";
//! assert_eq!(canonical_id("500Ws00000AbCdE").as_deref(), Some(id));
//! assert_eq!(canonical_id(id).as_deref(), Some(id));
//! assert_eq!(canonical_id("500ws00000abcdeiav").as_deref(), Some(id));
//! assert_eq!(canonical_id("not an id"), None);
//! ```

/// The checksum alphabet: a chunk's five upper-case flags as a number 0–31.
const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The checksum of a 15-character Id (three characters).
fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in id15.chunks(5).zip(out.iter_mut()) {
        let flags =
            chunk.iter().enumerate().filter(|(_, b)| b.is_ascii_uppercase()).fold(0usize, |acc, (i, _)| acc | (1 << i));
        *slot = CHECKSUM_ALPHABET[flags];
    }
    out
}

/// The 18-character Id for any of its forms: 15 characters (case-sensitive),
/// or 18 characters in any letter case (the checksum restores the case).
/// `None` when `text` is not an Id: wrong length, a character that is not an
/// ASCII letter or digit, or a checksum that does not fit the characters.
pub fn canonical_id(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    match bytes.len() {
        15 => {
            let mut id = bytes.to_vec();
            id.extend_from_slice(&checksum(bytes));
            String::from_utf8(id).ok()
        }
        18 => {
            let mut id: Vec<u8> = bytes[..15].to_vec();
            for (chunk, code) in id.chunks_mut(5).zip(&bytes[15..]) {
                let flags = CHECKSUM_ALPHABET.iter().position(|c| *c == code.to_ascii_uppercase())?;
                for (i, byte) in chunk.iter_mut().enumerate() {
                    let upper = flags & (1 << i) != 0;
                    if upper && !byte.is_ascii_alphabetic() {
                        return None;
                    }
                    *byte = if upper { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
                }
            }
            let suffix = checksum(&id);
            id.extend_from_slice(&suffix);
            String::from_utf8(id).ok()
        }
        _ => None,
    }
}

/// Whether two Ids name the same record, whatever their forms.
pub fn same_record(a: &str, b: &str) -> bool {
    match (canonical_id(a), canonical_id(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_checksum_matches_salesforce() {
        // Ids as Salesforce writes them in both forms.
        assert_eq!(canonical_id("001A000001HMm5Q").as_deref(), Some("001A000001HMm5QIAT"));
        assert_eq!(canonical_id("0055g00000Agent").as_deref(), Some("0055g00000AgentAAB"));
        assert_eq!(canonical_id("0055G00000AGENTAAB").as_deref(), Some("0055g00000AgentAAB"));
    }

    #[test]
    fn an_upper_case_flag_on_a_digit_is_refused() {
        // "B" sets the first flag of the first chunk, but that character is a digit.
        assert_eq!(canonical_id("500000000000000BAA"), None);
    }

    proptest! {
        #[test]
        fn every_form_of_an_id_is_the_same_record(id in "[0-9A-Za-z]{15}") {
            let full = canonical_id(&id).unwrap();
            prop_assert_eq!(&full[..15], id.as_str());
            prop_assert_eq!(canonical_id(&full.to_ascii_lowercase()), Some(full.clone()));
            prop_assert_eq!(canonical_id(&full.to_ascii_uppercase()), Some(full.clone()));
            prop_assert!(same_record(&id, &full.to_ascii_lowercase()));
        }

        #[test]
        fn anything_else_is_not_an_id(text in "\\PC{0,20}") {
            if let Some(id) = canonical_id(&text) {
                prop_assert_eq!(id.len(), 18);
                prop_assert!(matches!(text.len(), 15 | 18));
            }
        }
    }
}
