//! The Android FFS tar and zip cut short, end to end: every file wholly
//! before the cut is extracted with the generator's hash, the file the cut
//! falls in is kept as an incomplete prefix, nothing after it is invented,
//! an error names the offset, and the case verifies. (The plugin-level
//! suites cut every fixture at hundreds of offsets; these check that the
//! host records the same.)

use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;

/// The content of each file of the tree, by path.
fn contents() -> std::collections::BTreeMap<String, Vec<u8>> {
    fx::android_tree()
        .unwrap()
        .into_iter()
        .filter_map(|e| Some((e.path.clone(), e.content()?.to_vec())))
        .collect()
}

/// `(name, offset)` of every file, directory and link of a clean run.
fn starts(log: &[Value]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = log
        .iter()
        .filter(|e| e["action"] == "file_extracted" || e["action"] == "entry_recorded")
        .map(|e| {
            (
                e["details"]["name"].as_str().unwrap().to_owned(),
                e["details"]["meta"]["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort_by_key(|(_, at)| *at);
    v
}

fn check_cut(file: &str, data: &[u8], plugin: &str, cut: usize, starts: &[(String, u64)]) {
    let label = format!("{file} cut at {cut:#x}");
    let (_w, o) = extract_hostile(file, &data[..cut], plugin);
    assert_eq!(o.code, Some(2), "{label}: {}", o.stderr);
    let contents = contents();
    let cut = cut as u64;
    for (i, (name, at)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(u64::MAX, |(_, next)| *next);
        let Some(truth) = contents.get(name) else {
            continue; // a directory or a link
        };
        let found = actions(&o.log, "file_extracted")
            .into_iter()
            .find(|e| e["details"]["name"] == name.as_str());
        if end <= cut {
            let d = &found.unwrap_or_else(|| panic!("{label}: {name} missing"))["details"];
            assert_eq!(d["complete"], true, "{label}: {name}");
            assert_eq!(
                d["hashes"]["sha256"],
                fx::sha256_hex(truth),
                "{label}: {name}"
            );
        } else if *at >= cut {
            assert!(found.is_none(), "{label}: {name} invented");
        } else if let Some(e) = found {
            let got = o.content(name);
            assert!(truth.starts_with(&got), "{label}: {name}");
            if got.len() < truth.len() {
                assert_eq!(e["details"]["complete"], false, "{label}: {name}");
            }
        }
    }
    // The error names the cut, or the start of the entry it falls in (a
    // header cut short: "truncated header: 100 of 512 bytes").
    let within = starts
        .iter()
        .rev()
        .find(|(_, at)| *at <= cut)
        .map_or(0, |(_, at)| *at);
    let named = log_problems(&o.log).iter().any(|m| {
        m.contains(&format!("{cut:#x}")) || m.contains(&format!("offset {within:#x}: truncated"))
    });
    assert!(named, "{label}: {:?}", log_problems(&o.log));
}

fn log_problems(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["action"] == "warning" || e["action"] == "error")
        .map(|e| e["details"]["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn the_ffs_tar_cut_in_a_file_in_a_header_and_before_its_end_marker() {
    let data = fx::tar_bytes().unwrap();
    let (_w, whole) = extract_hostile("ffs.tar", &data, "tar");
    assert_eq!(whole.code, Some(0), "{}", whole.stderr);
    let starts = starts(&whole.log);
    let big = starts.iter().find(|(n, _)| n == fx::BIG_PATH).unwrap().1 as usize;
    let header = starts[starts.len() / 2].1 as usize + 100;
    for cut in [big + 512 + fx::BIG_LEN / 3, header, data.len() - 1024] {
        check_cut("ffs.tar", &data, "tar", cut, &starts);
    }
}

#[test]
fn the_ffs_zip_cut_in_a_file_and_in_its_central_directory() {
    let data = fx::zip_bytes().unwrap();
    let (_w, whole) = extract_hostile("ffs.zip", &data, "zip");
    assert_eq!(whole.code, Some(0), "{}", whole.stderr);
    let starts = starts(&whole.log);
    let big = starts.iter().find(|(n, _)| n == fx::BIG_PATH).unwrap().1 as usize;
    for cut in [big + 200, data.len() - 30] {
        check_cut("ffs.zip", &data, "zip", cut, &starts);
    }
}
