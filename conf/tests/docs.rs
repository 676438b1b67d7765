//! docs/config.md must document exactly the sections and keys the parser knows (the schema),
//! and the printer must write exactly those keys, so docs, parser and printer cannot drift.

use std::collections::{BTreeMap, BTreeSet};

use nvesec_conf::schema;

/// Heading path -> keys in its table, from `## \`path\`` headings and `| \`key\` |` rows.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"))
        .expect("docs/config.md");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## `") {
            let path = h.split('`').next().unwrap_or_default().to_string();
            out.entry(path.clone()).or_default();
            current = Some(path);
        } else if line.starts_with('#') {
            current = None;
        } else if let (Some(cur), Some(row)) = (&current, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap_or_default().to_string();
            out.get_mut(cur).unwrap().insert(key);
        }
    }
    out
}

#[test]
fn docs_match_the_schema() {
    let docs = documented();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for sec in schema::ALL {
        expected.insert(
            sec.path.to_string(),
            sec.keys.iter().map(|k| k.name.to_string()).collect(),
        );
    }
    // Sections documented only as prose headings (e.g. semantics) have no key table.
    let docs: BTreeMap<_, _> = docs
        .into_iter()
        .filter(|(_, keys)| !keys.is_empty())
        .collect();
    assert_eq!(docs, expected);
}

/// Keys the printer writes per schema section, from a model that sets every optional field.
#[test]
fn printer_writes_every_schema_key() {
    let cfg = nvesec_conf::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/etc/nvesec/nvesec.conf"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
    .config;
    let text = cfg.to_conf_string(nvesec_conf::SecretDisplay::Reveal);
    let printed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim().split_once(" = ").map(|(k, _)| k.to_string()))
        .collect();
    let mut all = BTreeSet::new();
    for sec in schema::ALL {
        for k in sec.keys {
            all.insert(k.name.replace("<suffix>", ""));
        }
    }
    // Keys the example leaves empty are printed only when set.
    for optional in [
        "cacerts",
        "certs",
        "ocsp_uris",
        "local_prefixes",
        "remote_prefixes",
        "address",
        "prefixes",
        "gsas",
    ] {
        assert!(all.contains(optional), "{optional}");
    }
    let missing: Vec<_> = all.difference(&printed).collect();
    assert!(
        missing.is_empty() || missing == ["ocsp_uris"],
        "printer never writes {missing:?}"
    );
    let unknown: Vec<_> = printed.difference(&all).collect();
    assert!(
        unknown.is_empty(),
        "printer writes keys the schema lacks: {unknown:?}"
    );
}
