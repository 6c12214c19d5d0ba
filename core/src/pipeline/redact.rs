//! Redaction: sensitive property values and IP addresses never reach the buffer.

use std::net::IpAddr;

use serde_json::Value;

use crate::address::anonymize;
use crate::config::IpPolicy;
use crate::event::reserved::keys;
use crate::event::{Message, Properties};

/// The value that replaces redacted properties.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    /// Lower case, `-` written as `_`.
    keys: Vec<String>,
    /// For each possible last byte, the entries ending with it.
    by_last_byte: Vec<Vec<usize>>,
    /// A 1024-bit filter over the last two bytes of every form of each entry (see
    /// `entry_forms`): most keys are rejected by one bit test, which matters because every
    /// property key of every event comes here.
    pair_filter: [u64; 16],
    /// Entries of one byte cannot use the pair filter.
    has_short_entry: bool,
    /// The same over the last three bytes (of every form of each entry, as for the pairs):
    /// most keys that share an entry's last two bytes (`coupon` and `authorization`) differ
    /// in the third.
    triple_filter: [u64; 16],
    /// Some entry can match a key of fewer than three bytes: no triple filter.
    has_short_triple: bool,
    ip: IpPolicy,
}

fn pair_slot(last: u8, before: u8) -> usize {
    (usize::from(last) * 31 + usize::from(before)) & 1023
}

fn triple_slot(last: u8, before: u8, third: u8) -> usize {
    (usize::from(last) * 961 + usize::from(before) * 31 + usize::from(third)) & 1023
}

/// Every form of `entry` a key may end with: the entry itself and the entry with any of its
/// `_` dropped (a camelCase step stands for one or more `_`: `card_number` matches
/// `cardNumber`). `None` when there are too many `_` to list the forms (the filters are
/// then off).
fn entry_forms(entry: &[u8]) -> Option<Vec<Vec<u8>>> {
    let underscores: Vec<usize> = (0..entry.len()).filter(|&i| entry[i] == b'_').collect();
    if underscores.len() > 6 {
        return None;
    }
    Some(
        (0u32..(1 << underscores.len()))
            .map(|dropped| {
                entry
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| {
                        underscores
                            .iter()
                            .position(|u| u == i)
                            .is_none_or(|bit| dropped & (1 << bit) == 0)
                    })
                    .map(|(_, &b)| b)
                    .collect()
            })
            .collect(),
    )
}

fn fold(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_lowercase()
    }
}

impl Redactor {
    pub fn new(keys: &[String], ip: IpPolicy) -> Self {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| k.to_ascii_lowercase().replace('-', "_"))
            .filter(|k| !k.is_empty())
            .collect();
        let mut by_last_byte = vec![Vec::new(); 256];
        let mut pair_filter = [0u64; 16];
        let mut has_short_entry = false;
        let mut triple_filter = [0u64; 16];
        let mut has_short_triple = false;
        for (i, k) in keys.iter().enumerate() {
            if let Some(&last) = k.as_bytes().last() {
                by_last_byte[usize::from(last)].push(i);
            }
            let Some(forms) = entry_forms(k.as_bytes()) else {
                has_short_entry = true;
                has_short_triple = true;
                continue;
            };
            for form in forms {
                match form[..] {
                    [.., before, last] => {
                        let slot = pair_slot(last, before);
                        pair_filter[slot / 64] |= 1 << (slot % 64);
                    }
                    _ => has_short_entry = true,
                }
                match form[..] {
                    [.., third, before, last] => {
                        let slot = triple_slot(last, before, third);
                        triple_filter[slot / 64] |= 1 << (slot % 64);
                    }
                    _ => has_short_triple = true,
                }
            }
        }
        Self {
            keys,
            by_last_byte,
            pair_filter,
            has_short_entry,
            triple_filter,
            has_short_triple,
            ip,
        }
    }

    /// Whether the IP policy changes anything (it then needs parsed objects).
    pub fn changes_ips(&self) -> bool {
        self.ip != IpPolicy::Keep
    }

    pub fn apply(&self, m: &mut Message) {
        if !self.keys.is_empty() {
            self.redact_map(&mut m.properties);
            self.redact_map(&mut m.traits);
            self.redact_map(&mut m.context);
            // Top-level fields Sonde does not know, kept as sent.
            self.redact_map(&mut m.extra);
        }
        if self.ip != IpPolicy::Keep {
            self.apply_ip(&mut m.context, "ip");
            self.apply_ip(&mut m.properties, keys::CLIENT_ADDRESS);
        }
    }

    /// Properties given outside an event (a stored event's patch), as `apply` treats an
    /// event's.
    pub fn redact_properties(&self, properties: &mut Properties) {
        if !self.keys.is_empty() {
            self.redact_map(properties);
        }
        self.apply_ip(properties, keys::CLIENT_ADDRESS);
    }

    fn apply_ip(&self, map: &mut Properties, key: &str) {
        match self.ip {
            IpPolicy::Keep => {}
            IpPolicy::Drop => crate::event::remove_key(map, key),
            IpPolicy::Anonymize => {
                if let Some(v) = map.get_mut(key) {
                    if let Some(text) = v.as_str() {
                        *v = match text.parse::<IpAddr>() {
                            Ok(ip) => Value::String(anonymize(ip).to_string()),
                            // Not an address we can truncate: remove rather than leak it.
                            Err(_) => Value::Null,
                        };
                    }
                }
            }
        }
    }

    fn redact_map(&self, map: &mut Properties) {
        for (key, value) in map.iter_mut() {
            if self.matches(key) {
                *value = Value::String(REDACTED.to_owned());
            } else {
                self.redact_value(value);
            }
        }
    }

    fn redact_value(&self, value: &mut Value) {
        match value {
            Value::Object(m) => self.redact_map(m),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            _ => {}
        }
    }

    /// `password`, `user_password`, `user-password`, `userPassword`, `PASSWORD` all match
    /// `password`; `passwordless_login` does not. The filters are inlined natively: every
    /// property key of every event comes here, and most are rejected by one bit test.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn matches(&self, key: &str) -> bool {
        let kb = key.as_bytes();
        let Some(&last) = kb.last() else {
            return false;
        };
        if !self.has_short_entry {
            let Some(&before) = kb.len().checked_sub(2).and_then(|i| kb.get(i)) else {
                return false;
            };
            let slot = pair_slot(fold(last), fold(before));
            if self.pair_filter[slot / 64] & (1 << (slot % 64)) == 0 {
                return false;
            }
        }
        if !self.has_short_triple {
            let [.., third, before, _] = kb else {
                return false;
            };
            let slot = triple_slot(fold(last), fold(*before), fold(*third));
            if self.triple_filter[slot / 64] & (1 << (slot % 64)) == 0 {
                return false;
            }
        }
        self.matches_an_entry(kb, last)
    }

    /// The exact check behind the filters.
    fn matches_an_entry(&self, kb: &[u8], last: u8) -> bool {
        let Some(candidates) = self.by_last_byte.get(usize::from(fold(last))) else {
            return false;
        };
        candidates.iter().any(|&i| {
            let Some(start) = suffix_start(kb, self.keys[i].as_bytes()) else {
                return false;
            };
            if start == 0 {
                return true;
            }
            let before = kb[start - 1];
            matches!(before, b'_' | b'-' | b'.')
                || (before.is_ascii_lowercase() && kb[start].is_ascii_uppercase())
        })
    }
}

/// Where `entry` (lower case, `_` between words) ends `key`, comparing case-insensitively
/// with `-` read as `_`; an entry's `_` also matches a camelCase step in the key (`cardNumber`
/// ends with `card_number`). The start of the match in `key`, or `None`.
fn suffix_start(key: &[u8], entry: &[u8]) -> Option<usize> {
    let (mut k, mut e) = (key.len(), entry.len());
    while e > 0 {
        let want = entry[e - 1];
        if k > 0 && fold(key[k - 1]) == want {
            k -= 1;
            e -= 1;
        } else if want == b'_'
            && k > 0
            && k < key.len()
            && key[k - 1].is_ascii_lowercase()
            && key[k].is_ascii_uppercase()
        {
            e -= 1; // the step from lower to upper case stands for the `_`
        } else {
            return None;
        }
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_matching() {
        let r = Redactor::new(&["password".into(), "api_key".into()], IpPolicy::Keep);
        for yes in [
            "password",
            "PASSWORD",
            "user_password",
            "user-password",
            "userPassword",
            "x.api-key",
            "API_KEY",
            "apiKey",
            "userApiKey",
        ] {
            assert!(r.matches(yes), "{yes}");
        }
        for no in [
            "passwordless",
            "mypassword",
            "apikeys",
            "plan",
            "apikeyring",
            "rapiKey",
        ] {
            assert!(!r.matches(no), "{no}");
        }
        let defaults: Vec<String> = crate::config::DEFAULT_REDACT_KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        let r = Redactor::new(&defaults, IpPolicy::Keep);
        for yes in [
            "creditCard",
            "cardNumber",
            "privateKey",
            "clientSecret",
            "accessToken",
            "billing.creditCard",
        ] {
            assert!(r.matches(yes), "{yes}");
        }
        for no in ["cardNumbers", "creditcardholder", "privateKeyring"] {
            assert!(!r.matches(no), "{no}");
        }
    }

    /// The filters only ever skip work: matching agrees with trying every entry.
    fn brute_force(entries: &[String], key: &str) -> bool {
        let kb = key.as_bytes();
        entries.iter().any(|e| {
            let e = e.to_ascii_lowercase().replace('-', "_");
            !e.is_empty()
                && suffix_start(kb, e.as_bytes()).is_some_and(|start| {
                    start == 0
                        || matches!(kb[start - 1], b'_' | b'-' | b'.')
                        || (kb[start - 1].is_ascii_lowercase() && kb[start].is_ascii_uppercase())
                })
        })
    }

    proptest::proptest! {
        #[test]
        fn filters_never_change_the_answer(
            entries in proptest::collection::vec("[a-cA-C_-]{1,6}", 1..6),
            keys in proptest::collection::vec("[a-cA-C_.-]{0,9}", 1..20),
        ) {
            let r = Redactor::new(&entries, IpPolicy::Keep);
            for key in &keys {
                proptest::prop_assert_eq!(r.matches(key), brute_force(&entries, key), "{} {:?}", key, entries);
            }
        }
    }

    #[test]
    fn default_entries_keep_the_filters_on() {
        let defaults: Vec<String> = crate::config::DEFAULT_REDACT_KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        let r = Redactor::new(&defaults, IpPolicy::Keep);
        assert!(!r.has_short_entry && !r.has_short_triple);
        for key in ["coupon", "first_order", "plan", "currency"] {
            assert!(!r.matches(key), "{key}");
            assert!(!brute_force(&defaults, key));
        }
    }

    #[test]
    fn nested_values_and_ips() {
        let r = Redactor::new(&["token".into()], IpPolicy::Anonymize);
        let mut m = Message::track("x", json!({"a": {"token": "s3cr3t", "list": [{"auth_token": 1}]}, "client.address": "10.1.2.3"}).as_object().cloned().unwrap());
        m.context = json!({"ip": "2001:db8:1:2:3:4:5:6"})
            .as_object()
            .cloned()
            .unwrap();
        r.apply(&mut m);
        assert_eq!(m.properties["a"]["token"], REDACTED);
        assert_eq!(m.properties["a"]["list"][0]["auth_token"], REDACTED);
        assert_eq!(m.properties["client.address"], "10.1.2.0");
        assert_eq!(m.context["ip"], "2001:db8:1::");
    }
}
