//! Drives test plugins through the C descriptor and through the safe trait
//! and checks both give the same transcript, panics included.
#![allow(clippy::unwrap_used)]

use exhibit_plugin_sdk::export::describe;
use exhibit_plugin_sdk::testing::{MemoryHost, run_safe};
use exhibit_plugin_sdk::{EntryKind, EntryMeta, FormatPlugin, PluginError, Probe, Session, Status};

#[derive(Default)]
struct Halves;

impl FormatPlugin for Halves {
    const NAME: &'static str = "halves";
    const VERSION: &'static str = "1.2.3";
    const DESCRIPTION: &'static str = "splits the evidence into two files";
    const EXTENSIONS: &'static [&'static str] = &["bin"];

    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.head.starts_with(b"HALF") {
            90
        } else {
            0
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let size = session.evidence().size;
        let mid = size / 2;
        for (name, start, end) in [(&b"first"[..], 0, mid), (&b"second"[..], mid, size)] {
            let mut out = session.begin(name, &EntryMeta::file(end - start))?;
            let mut buf = vec![0u8; usize::try_from(end - start).unwrap()];
            let n = session.read_at(start, &mut buf)?;
            out.write_bytes(&buf[..n])?;
            out.finish()?;
        }
        let mut link = EntryMeta::new(EntryKind::Symlink);
        link.link_target = Some(exhibit_plugin_sdk::RawBytes(vec![0xff, b'x']));
        session.record_entry(b"link\xfe", &link)?;
        session.warn(Some(3), "something odd at 3");
        Err(PluginError::corrupt(7, "trailing garbage"))
    }
}

#[derive(Default)]
struct Panics;

impl FormatPlugin for Panics {
    const NAME: &'static str = "panics";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "panics half way through a file";

    fn probe(&self, _: &Probe<'_>) -> u8 {
        panic!("probe exploded")
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let mut out = session.begin(b"partial", &EntryMeta::file(10))?;
        out.write_bytes(b"12345")?;
        panic!("run exploded after {} bytes", out.written());
    }
}

#[test]
fn descriptor_carries_identity() {
    let d = describe::<Halves>();
    assert_eq!(
        d.descriptor().abi_version,
        exhibit_plugin_sdk::abi::ABI_VERSION
    );
    assert_eq!(d.descriptor().kind, exhibit_plugin_sdk::abi::Kind::FORMAT);
    let (name, version, handles) = d.identity();
    assert_eq!((name, version), ("halves", "1.2.3"));
    let handles: serde_json::Value = serde_json::from_str(handles).unwrap();
    assert_eq!(handles["extensions"][0], "bin");
    assert_eq!(handles["description"], "splits the evidence into two files");
}

#[test]
fn probe_through_abi_matches_trait() {
    let d = describe::<Halves>();
    let yes = Probe {
        head: b"HALF....",
        name: b"x.bin",
        size: 8,
        is_dir: false,
    };
    let no = Probe {
        head: b"TAR.",
        name: b"x.tar",
        size: 4,
        is_dir: false,
    };
    assert_eq!(d.probe(&yes), 90);
    assert_eq!(d.probe(&no), 0);
}

#[test]
fn safe_and_abi_paths_give_identical_transcripts() {
    let data = b"HALF0123456789".to_vec();
    let direct = MemoryHost::file("x.bin", data.clone());
    let via_abi = MemoryHost::file("x.bin", data);
    let s1 = run_safe::<Halves>(&direct);
    let s2 = describe::<Halves>().run(&via_abi);
    assert_eq!(s1, Status::CORRUPT);
    assert_eq!(s2, Status::CORRUPT);
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(t1.to_jsonl(), t2.to_jsonl());
    assert_eq!(t1.entries.len(), 3);
    assert_eq!(t1.entry(b"first").unwrap().data, b"HALF012");
    assert_eq!(t1.entry(b"second").unwrap().data, b"3456789");
    assert_eq!(
        t1.entry(b"link\xfe").unwrap().meta["link_target"]["hex"],
        "ff78"
    );
    let problems = t1.problems();
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].offset, Some(3));
    assert_eq!(
        problems[1].message,
        "corrupt at offset 0x7: trailing garbage"
    );
}

#[test]
fn panics_are_caught_at_the_boundary() {
    let d = describe::<Panics>();
    assert_eq!(
        d.probe(&Probe {
            head: b"",
            name: b"",
            size: 0,
            is_dir: false
        }),
        0
    );
    let host = MemoryHost::file("p.bin", vec![0; 4]);
    assert_eq!(d.run(&host), Status::PANICKED);
    let t = host.take_transcript();
    // The file open at the panic is ended as incomplete while unwinding.
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].data, b"12345");
    assert_eq!(t.entries[0].status, "corrupt");
    let err = t.logs.last().unwrap();
    assert_eq!(err.level, "error");
    assert_eq!(err.status, "panicked");
    assert!(
        err.message
            .starts_with("plugin `panics` panicked: run exploded after 5 bytes (at "),
        "{}",
        err.message
    );
}

#[test]
fn entry_symbol_matches_the_macro() {
    assert_eq!(
        exhibit_plugin_sdk::abi::ENTRY_SYMBOL,
        b"exhibit_plugin_v1\0"
    );
    let src = include_str!("../src/export.rs");
    assert!(src.contains("pub extern \"C\" fn exhibit_plugin_v1()"));
}
