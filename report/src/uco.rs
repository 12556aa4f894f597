//! `exhibit export --format case-uco`: the case as CASE 1.4 / UCO 1.4 JSON-LD
//! (<https://caseontology.org>), checked with `case_validate --built-version
//! case-1.4.0` from case-utils 0.18.0 (pySHACL over the CASE 1.4.0 shapes and
//! its check that every CASE/UCO term used exists), which reports it
//! conformant with no violation, warning or info; so does its default,
//! CASE 1.5.0. Info counts: `case_validate` without `--allow-info` fails on
//! it, so UCO's advisories (IRIs ending in a UUID, vocabulary members) are
//! followed too.
//!
//! What the graph says:
//!
//! - The examiner is a `uco-identity:Person`; exhibit and every plugin
//!   library loaded are `uco-tool:AnalyticTool`s. A plugin's library is an
//!   `observable:File` with its SHA-256 from the custody log, and a
//!   `uco-core:Relationship` "Loaded_From" ties the tool to it (a Tool is not
//!   an observable, so UCO's `ObservableRelationship` would warn).
//! - The evidence is an `observable:File` (or `Directory`) with its digests;
//!   a `case-investigation:ProvenanceRecord` gives it its exhibit number (the
//!   case number, else the evidence's file name).
//! - One `case-investigation:InvestigativeAction` for the extraction
//!   (performer, environment, instrument exhibit + the format plugin, object
//!   the evidence) and one per decoding (`file_decoded`: instrument exhibit +
//!   the decoder, object the decoded file).
//! - Every extracted file, directory and link is a node with its `FileFacet`
//!   and `ContentDataFacet`, and an `ObservableRelationship`
//!   "Contained_Within" the evidence, carrying its path in the dump and its
//!   offset there. Every message, contact and call is a node of its UCO class
//!   with a "Contained_Within" relationship to the database it was read from
//!   (the table and row as the relationship's path); an MMS attachment that
//!   was extracted is related to its message by "Attachment_Of".
//!
//! Memory stays bounded: nodes are written one at a time into the `@graph`
//! array, never gathered. So an action does not list its results (a
//! million-file list is one unbounded node); each file or record names the
//! action that produced it with JSON-LD `@reverse`, which gives exactly the
//! same `action:result` triples. Messages join their conversation the same
//! way (`types:ThreadItem` with `@reverse co:item`). Shared nodes (phone
//! accounts, applications, threads, organisations) are written the first
//! time they are needed; a bounded set remembers which, and past its size a
//! shared node may be written again, which JSON-LD merges into one node.
//!
//! The output is the same bytes every time: no clock, no randomness, no hash
//! map order, times in UTC. Node IRIs are `kb:<Class>-<UUIDv5>` under
//! `http://example.org/kb/` (the case-utils default), the UUID named from the
//! case's first custody line and the node's key (a file's case path, a
//! record's line in its artifact file), so exporting a case again, even
//! after later runs added to its log, names every node the same. Facet and
//! hash IRIs follow case-utils' `inherent_uuid` (a facet from its object's
//! UUID and class, a hash from its method and value), so hashes merge with
//! other tools' graphs.
//!
//! UCO 1.4 has no place for some of what exhibit knows; those values go into
//! `uco-core:description` lines of their node rather than being dropped: a
//! message's received, read and delivered times, folder, status and subject;
//! a call's cached name and raw type; a contact's sync account and labels
//! outside UCO's phone and e-mail scope vocabularies; a file's owner and
//! mode. Vocabulary properties are only given values from their vocabulary,
//! since the validator reports anything else (at severity Info).

use crate::case::{Case, Decoding, EvidenceInfo, FileItem, PluginInfo, Summary};
use anyhow::{Context, Result};
use exhibit_core::hash::Digests;
use exhibit_plugin_sdk::records::{
    Call, CallType, Contact, Direction, Message, Provenance, Timestamp,
};
use exhibit_plugin_sdk::{EntryKind, EntryMeta, Time};
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The knowledge-base prefix of every node (case-utils' default).
const KB: &str = "http://example.org/kb/";
const UCO: &str = "https://ontology.unifiedcyberontology.org/uco/";
const OBSERVABLE: &str = "https://ontology.unifiedcyberontology.org/uco/observable/";

/// RFC 4122 appendix C: the name space of URLs, which case-utils names hash
/// UUIDs under.
const NAMESPACE_URL: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// Shared nodes remembered as written; past this many the set starts over
/// (a node written twice is merged by any JSON-LD reader).
const SEEN_MAX: usize = 1 << 16;

/// Writes the case as one JSON-LD document, a node per line of `@graph`.
pub fn write(case: &Case, out: &mut dyn Write) -> Result<()> {
    let mut export = Export::new(case, out)?;
    let context = json!({
        "kb": KB,
        "case-investigation": "https://ontology.caseontology.org/case/investigation/",
        "co": "http://purl.org/co/",
        "uco-action": format!("{UCO}action/"),
        "uco-core": format!("{UCO}core/"),
        "uco-identity": format!("{UCO}identity/"),
        "uco-observable": OBSERVABLE,
        "uco-tool": format!("{UCO}tool/"),
        "uco-types": format!("{UCO}types/"),
        "xsd": "http://www.w3.org/2001/XMLSchema#",
    });
    export.out.write_all(b"{\"@context\":")?;
    serde_json::to_writer(&mut *export.out, &context)?;
    export.out.write_all(b",\n\"@graph\":[\n")?;
    export.people()?;
    export.tools()?;
    export.evidence()?;
    export.regions()?;
    export.actions()?;
    export.files()?;
    export.messages()?;
    export.contacts()?;
    export.calls()?;
    export.out.write_all(b"\n]}\n")?;
    export.out.flush()?;
    Ok(())
}

/// A node's IRI and the UUID it ends with (the name space of its facets).
#[derive(Debug, Clone)]
struct Iri {
    iri: String,
    uuid: [u8; 16],
}

impl Iri {
    /// This object's facet of the observable class `class`.
    fn facet_iri(&self, class: &str) -> Iri {
        self.inherent_iri(class, &format!("{OBSERVABLE}{class}"))
    }

    fn facet(&self, class: &str) -> String {
        self.facet_iri(class).iri
    }

    /// A node that only exists as part of this one (a facet, a contact's
    /// phone entry), named by `name` under this node's UUID: case-utils'
    /// inherence scheme.
    fn inherent_iri(&self, class: &str, name: &str) -> Iri {
        let uuid = uuid5(&self.uuid, name.as_bytes());
        Iri {
            iri: format!("kb:{class}-{}", format_uuid(&uuid)),
            uuid,
        }
    }

    fn inherent(&self, class: &str, name: &str) -> String {
        self.inherent_iri(class, name).iri
    }

    fn reference(&self) -> Value {
        reference(&self.iri)
    }
}

/// The state of one export: where it writes and what it has written.
struct Export<'a> {
    out: &'a mut dyn Write,
    summary: &'a Summary,
    case: &'a Case,
    /// UUID name space of this case.
    case_ns: [u8; 16],
    /// Whether a node was written (the next one needs a comma).
    any: bool,
    seen: BTreeSet<String>,
    /// The decoding action of each (`decoder version`, case file), for the
    /// records it produced.
    decoding_of: BTreeMap<(String, String), String>,
}

impl<'a> Export<'a> {
    fn new(case: &'a Case, out: &'a mut dyn Write) -> Result<Export<'a>> {
        // The first custody line names the case for good: later runs append
        // to the log but never change it, so the IRIs survive them.
        let first = case
            .entries()?
            .next()
            .context("the custody log is empty")??;
        let case_ns = uuid5(
            &NAMESPACE_URL,
            format!("urn:exhibit:case:{}", first.hash).as_bytes(),
        );
        let mut export = Export {
            out,
            summary: case.summary(),
            case,
            case_ns,
            any: false,
            seen: BTreeSet::new(),
            decoding_of: BTreeMap::new(),
        };
        let s = export.summary;
        for d in &s.decodings {
            let action = export.decoding(d).iri;
            export.decoding_of.insert(
                (format!("{} {}", d.decoder, d.version), d.file.clone()),
                action,
            );
        }
        Ok(export)
    }

    /// The IRI of the case's node of class `class` known by `key`.
    fn iri(&self, class: &str, key: &str) -> Iri {
        let uuid = uuid5(&self.case_ns, key.as_bytes());
        Iri {
            iri: format!("kb:{class}-{}", format_uuid(&uuid)),
            uuid,
        }
    }

    fn node(&mut self, node: &Value) -> Result<()> {
        if self.any {
            self.out.write_all(b",\n")?;
        }
        self.any = true;
        serde_json::to_writer(&mut *self.out, node)?;
        Ok(())
    }

    /// True the first time `iri` is asked about (within [`SEEN_MAX`]).
    fn first_time(&mut self, iri: &str) -> bool {
        if self.seen.contains(iri) {
            return false;
        }
        if self.seen.len() >= SEEN_MAX {
            self.seen.clear();
        }
        self.seen.insert(iri.to_owned());
        true
    }

    fn person(&self, name: &str) -> Iri {
        self.iri("Person", &format!("person:{name}"))
    }

    fn exhibit_tool(&self) -> Iri {
        self.iri("AnalyticTool", "tool:exhibit")
    }

    fn plugin(&self, name: &str, sha256: &str) -> Iri {
        self.iri("AnalyticTool", &format!("plugin:{name}:{sha256}"))
    }

    /// The loaded plugin `name` at `version`, if the log recorded its load.
    fn plugin_named(&self, name: &str, version: &str) -> Option<&'a PluginInfo> {
        self.summary
            .plugins
            .iter()
            .find(|p| p.name == name && p.version == version)
    }

    fn evidence_iri(&self) -> Iri {
        let dir = self.summary.evidence.as_ref().is_some_and(is_folder);
        self.iri(if dir { "Directory" } else { "File" }, "evidence")
    }

    fn extraction(&self) -> Iri {
        self.iri("InvestigativeAction", "action:extraction")
    }

    fn decoding(&self, d: &Decoding) -> Iri {
        self.iri("InvestigativeAction", &format!("action:decoding:{}", d.seq))
    }

    /// The node of the case file at `path` (`files/…`), whatever its kind;
    /// the key is the path alone, so records and attachments can point at a
    /// file without knowing its kind.
    fn case_file(&self, path: &str, kind: EntryKind) -> Iri {
        self.iri(file_class(kind), &format!("file:{path}"))
    }

    /// The examiners of the runs that acted on the evidence, the case's
    /// first. Report runs are left out: an export must not change because
    /// another export was recorded in the case.
    fn people(&mut self) -> Result<()> {
        let s = self.summary;
        let mut names: Vec<&str> = Vec::new();
        let first = s.case.examiner.as_deref();
        let acting = s
            .runs
            .iter()
            .filter(|r| r.kind != "report")
            .filter_map(|r| r.examiner.as_deref());
        for name in first.into_iter().chain(acting) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        for name in names {
            let person = self.person(name);
            self.node(&json!({
                "@id": person.iri,
                "@type": "uco-identity:Person",
                "uco-core:name": name,
            }))?;
        }
        if let (Some(examiner), Some(agency)) = (first, s.case.agency.as_deref()) {
            let org = self.iri("Organization", &format!("agency:{agency}"));
            self.node(&json!({
                "@id": org.iri,
                "@type": "uco-identity:Organization",
                "uco-core:name": agency,
            }))?;
            let rel = self.iri("Relationship", "examiner-agency");
            self.node(&json!({
                "@id": rel.iri,
                "@type": "uco-core:Relationship",
                "uco-core:source": self.person(examiner).reference(),
                "uco-core:target": org.reference(),
                "uco-core:kindOfRelationship": "Member_Of",
                "uco-core:isDirectional": true,
            }))?;
        }
        Ok(())
    }

    /// exhibit, the computer it ran on, and every plugin library loaded.
    fn tools(&mut self) -> Result<()> {
        let s = self.summary;
        let info = &s.case;
        let mut tool = json!({
            "@id": self.exhibit_tool().iri,
            "@type": "uco-tool:AnalyticTool",
            "uco-core:name": info.tool,
            "uco-tool:toolType": "forensic extraction and decoding",
        });
        if !info.tool_version.is_empty() {
            tool["uco-tool:version"] = json!(info.tool_version);
        }
        self.node(&tool)?;
        if let Some(host) = &info.host {
            let computer = self.iri("Computer", "environment");
            let mut node = json!({
                "@id": computer.iri,
                "@type": "uco-observable:Computer",
                "uco-core:hasFacet": [{
                    "@id": computer.facet("ComputerSpecificationFacet"),
                    "@type": "uco-observable:ComputerSpecificationFacet",
                    "uco-observable:hostname": host,
                }],
            });
            let platform: Vec<String> = [("os", &info.os), ("arch", &info.arch)]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
                .collect();
            if !platform.is_empty() {
                node["uco-core:description"] = json!(platform);
            }
            self.node(&node)?;
        }
        for p in &s.plugins {
            let tool = self.plugin(&p.name, &p.sha256);
            let mut node = json!({
                "@id": tool.iri,
                "@type": "uco-tool:AnalyticTool",
                "uco-core:name": p.name,
                "uco-tool:version": p.version,
                "uco-tool:toolType": match p.kind.as_str() {
                    "format" => "exhibit format plugin",
                    "artifact" => "exhibit artifact decoder",
                    _ => "exhibit plugin",
                },
            });
            if !p.description.is_empty() {
                node["uco-core:description"] = json!([p.description]);
            }
            self.node(&node)?;
            let library = self.iri("File", &format!("plugin-library:{}:{}", p.name, p.sha256));
            let mut facets = vec![file_facet(
                &library,
                name_of(&p.path),
                Some(&p.path),
                true,
                None,
            )];
            if !p.sha256.is_empty() {
                let digests = Digests::from([("sha256".to_owned(), p.sha256.clone())]);
                facets.push(content_facet(&library, &digests, None));
            }
            self.node(&json!({
                "@id": library.iri,
                "@type": "uco-observable:File",
                "uco-core:hasFacet": facets,
            }))?;
            let rel = self.iri(
                "Relationship",
                &format!("plugin-loaded:{}:{}", p.name, p.sha256),
            );
            self.node(&json!({
                "@id": rel.iri,
                "@type": "uco-core:Relationship",
                "uco-core:source": tool.reference(),
                "uco-core:target": library.reference(),
                "uco-core:kindOfRelationship": "Loaded_From",
                "uco-core:isDirectional": true,
            }))?;
        }
        Ok(())
    }

    /// The evidence and the provenance record naming it as the exhibit.
    fn evidence(&mut self) -> Result<()> {
        let s = self.summary;
        let Some(ev) = &s.evidence else {
            return Ok(());
        };
        let iri = self.evidence_iri();
        let dir = is_folder(ev);
        let mut ff = file_facet(&iri, ev.name(), Some(&ev.path), !dir, None);
        if dir {
            ff["uco-observable:isDirectory"] = json!(true);
        } else if let Some(size) = ev.size {
            ff["uco-observable:sizeInBytes"] = json!(size);
        }
        if let Some(t) = ev.mtime.as_deref().and_then(xsd_time_text) {
            ff["uco-observable:modifiedTime"] = t;
        }
        let mut facets = vec![ff];
        // A folder's digests (if any) are not of one content, so they are
        // not a ContentDataFacet's; they stay in the description.
        if !dir && !ev.hashes.is_empty() {
            facets.push(content_facet(&iri, &ev.hashes, ev.size));
        }
        let mut node = json!({
            "@id": iri.iri,
            "@type": if dir { "uco-observable:Directory" } else { "uco-observable:File" },
            "uco-core:hasFacet": facets,
        });
        let lines = evidence_lines(ev, dir);
        if !lines.is_empty() {
            node["uco-core:description"] = json!(lines);
        }
        self.node(&node)?;
        let exhibit = s
            .case
            .case_number
            .clone()
            .unwrap_or_else(|| ev.name().to_owned());
        let record = self.iri("ProvenanceRecord", "provenance:exhibit");
        self.node(&json!({
            "@id": record.iri,
            "@type": "case-investigation:ProvenanceRecord",
            "case-investigation:exhibitNumber": exhibit,
            "uco-core:description": ["the evidence as exhibit read it"],
            "uco-core:object": [iri.reference()],
        }))
    }

    /// Each partition (and span between partitions) of a physical image:
    /// a `DiskPartition` with its offset, length and digests, contained
    /// within the evidence.
    fn regions(&mut self) -> Result<()> {
        let s = self.summary;
        let evidence = self.evidence_iri();
        for region in &s.regions {
            let iri = self.iri("DiskPartition", &format!("region:{}", region.name));
            let d = &region.details;
            let kind = [d["type_name"].as_str(), d["region"].as_str()]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or("unknown");
            let mut facet = json!({
                "@id": iri.facet("DiskPartitionFacet"),
                "@type": "uco-observable:DiskPartitionFacet",
                "uco-observable:diskPartitionType": kind,
                "uco-observable:partitionLength": region.size,
            });
            if let Some(offset) = region.offset {
                facet["uco-observable:partitionOffset"] = json!(offset);
            }
            if let Some(index) = d["index"].as_u64() {
                facet["uco-observable:partitionID"] = json!(index.to_string());
            }
            let mut digests = Digests::new();
            if let Some(sha256) = &region.sha256 {
                digests.insert("sha256".into(), sha256.clone());
            }
            let mut description = vec![format!(
                "region {} of the image, hashed by exhibit over its raw bytes",
                region.name
            )];
            if !region.complete {
                description.push("incomplete: the image ends inside it".into());
            }
            self.node(&json!({
                "@id": iri.iri,
                "@type": "uco-observable:DiskPartition",
                "uco-core:name": region.name,
                "uco-core:description": description,
                "uco-core:hasFacet": [facet, content_facet(&iri, &digests, Some(region.size))],
            }))?;
            let rel = self.iri("ObservableRelationship", &format!("region:{}", region.name));
            self.node(&contained_within(
                &rel,
                iri.reference(),
                evidence.reference(),
            ))?;
        }
        Ok(())
    }

    /// The extraction and each decoding.
    fn actions(&mut self) -> Result<()> {
        let s = self.summary;
        let mut action = json!({
            "@id": self.extraction().iri,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "extraction",
            "uco-core:description": [format!(
                "{} files extracted; {} directories, links and other entries recorded",
                s.counts.files,
                s.counts.dirs + s.counts.symlinks + s.counts.other_entries
            )],
        });
        if let Some(t) = xsd_time_text(&s.case.opened) {
            action["uco-action:startTime"] = t;
        }
        // The extraction ends with the last extract or resume run; later
        // runs (decoding again, reports) are not part of it.
        let last = s
            .runs
            .iter()
            .rev()
            .find(|r| r.kind == "extract" || r.kind == "resume");
        if let Some(run) = last {
            if let Some(t) = run.finished.as_deref().and_then(xsd_time_text) {
                action["uco-action:endTime"] = t;
            }
            if let Some(status) = run_status(run.outcome.as_deref()) {
                action["uco-action:actionStatus"] = json!(status);
            }
        }
        if let Some(examiner) = &s.case.examiner {
            action["uco-action:performer"] = self.person(examiner).reference();
        }
        if s.case.host.is_some() {
            action["uco-action:environment"] = self.iri("Computer", "environment").reference();
        }
        let mut instruments = vec![self.exhibit_tool().reference()];
        if let Some(sel) = &s.selected
            && let Some(p) = self.plugin_named(&sel.plugin, &sel.version)
        {
            instruments.push(self.plugin(&p.name, &p.sha256).reference());
        }
        action["uco-action:instrument"] = json!(instruments);
        if s.evidence.is_some() {
            action["uco-action:object"] = json!([self.evidence_iri().reference()]);
        }
        self.node(&action)?;

        for d in &s.decodings {
            let iri = self.decoding(d);
            let mut lines = vec![format!("decoder status: {}", d.status)];
            for (kind, n) in &d.records {
                lines.push(format!("{n} {kind} records"));
            }
            if d.isolated {
                lines.push("the decoder ran in a child process".to_owned());
            }
            let mut node = json!({
                "@id": iri.iri,
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": "decoding",
                "uco-core:description": lines,
                "uco-action:actionStatus": if d.status == "ok" { "Success" } else { "Fail" },
                "uco-action:object": [self.case_file(&d.file, EntryKind::File).reference()],
            });
            if let Some(t) = xsd_time_text(&d.time) {
                node["uco-action:endTime"] = t;
            }
            if let Some(examiner) = examiner_at(s, d.seq) {
                node["uco-action:performer"] = self.person(examiner).reference();
            }
            let mut instruments = vec![self.exhibit_tool().reference()];
            if let Some(p) = self.plugin_named(&d.decoder, &d.version) {
                instruments.push(self.plugin(&p.name, &p.sha256).reference());
            }
            node["uco-action:instrument"] = json!(instruments);
            self.node(&node)?;
        }

        // The record files exhibit wrote: results of the decodings that
        // produced records of their kind, the last of each decoder and file
        // (a decoding run again replaced the records of the one before).
        for a in &s.artifacts {
            let iri = self.iri("File", &format!("artifact:{}", a.path));
            let producers: Vec<Value> = s
                .decodings
                .iter()
                .filter(|d| d.records.get(&a.kind).is_some_and(|&n| n > 0))
                .map(|d| self.decoding(d))
                .filter(|action| self.decoding_of.values().any(|v| *v == action.iri))
                .map(|action| action.reference())
                .collect();
            let mut ff = file_facet(&iri, name_of(&a.path), Some(&a.path), true, None);
            ff["uco-observable:sizeInBytes"] = json!(a.size);
            let mut node = json!({
                "@id": iri.iri,
                "@type": "uco-observable:File",
                "uco-core:description": [format!("{} {} records written by exhibit", a.records, a.kind)],
                "uco-core:hasFacet": [ff, content_facet(&iri, &a.hashes, Some(a.size))],
            });
            if !producers.is_empty() {
                node["@reverse"] = json!({ "uco-action:result": producers });
            }
            self.node(&node)?;
        }
        Ok(())
    }

    /// Every extracted file, directory and link, contained in the evidence.
    fn files(&mut self) -> Result<()> {
        let evidence = self.summary.evidence.is_some().then(|| self.evidence_iri());
        let extraction = self.extraction();
        for item in self.case.files()? {
            let item = item?;
            // Links and other entries with no file on disk have no case
            // path; their custody entry names them.
            let iri = if item.path.is_empty() {
                self.iri(file_class(item.kind), &format!("entry:{}", item.seq))
            } else {
                self.case_file(&item.path, item.kind)
            };
            let dump_path = dump_path(&item);
            let mut ff = file_facet(
                &iri,
                name_of(&dump_path),
                Some(&dump_path),
                item.kind == EntryKind::File,
                item.meta.as_ref(),
            );
            let mut facets = Vec::new();
            let mut lines = Vec::new();
            match item.kind {
                EntryKind::File => {
                    if let Some(size) = item.size {
                        ff["uco-observable:sizeInBytes"] = json!(size);
                    }
                    facets.push(ff);
                    if !item.hashes.is_empty() {
                        facets.push(content_facet(&iri, &item.hashes, item.size));
                    }
                }
                EntryKind::Dir => {
                    ff["uco-observable:isDirectory"] = json!(true);
                    facets.push(ff);
                }
                EntryKind::Symlink => facets.push(ff),
                other => {
                    // UCO has no class for pipes, devices and the like.
                    facets.push(ff);
                    lines.push(format!("entry kind: {}", kind_name(other)));
                }
            }
            if !item.complete {
                lines.push(
                    "cut short: the dump ended before the size its entry declared".to_owned(),
                );
            }
            if let Some(meta) = &item.meta {
                lines.extend(meta_lines(meta));
            }
            let mut node = json!({
                "@id": iri.iri,
                "@type": format!("uco-observable:{}", file_class(item.kind)),
                "uco-core:hasFacet": facets,
                "@reverse": { "uco-action:result": extraction.reference() },
            });
            if !lines.is_empty() {
                node["uco-core:description"] = json!(lines);
            }
            if !item.complete {
                node["uco-core:tag"] = json!(["incomplete"]);
            }
            self.node(&node)?;
            if let Some(evidence) = &evidence {
                let rel = self.iri("ObservableRelationship", &format!("contained:{}", iri.iri));
                let mut facets = vec![json!({
                    "@id": rel.facet("PathRelationFacet"),
                    "@type": "uco-observable:PathRelationFacet",
                    "uco-observable:path": dump_path,
                })];
                if let Some(offset) = item.meta.as_ref().and_then(|m| m.offset) {
                    facets.push(json!({
                        "@id": rel.facet("DataRangeFacet"),
                        "@type": "uco-observable:DataRangeFacet",
                        "uco-observable:rangeOffset": offset,
                    }));
                }
                let mut rel_node = contained_within(&rel, iri.reference(), evidence.reference());
                rel_node["uco-core:hasFacet"] = json!(facets);
                self.node(&rel_node)?;
            }
        }
        Ok(())
    }

    /// The node of a phone number, e-mail address or other handle, written
    /// the first time it is met.
    fn address(&mut self, address: &str) -> Result<Iri> {
        let (class, facet) = if is_phone_number(address) {
            (
                "PhoneAccount",
                json!({"uco-observable:phoneNumber": address}),
            )
        } else if address.contains('@') {
            (
                "EmailAddress",
                json!({"uco-observable:addressValue": address}),
            )
        } else {
            (
                "DigitalAccount",
                json!({"uco-observable:accountIdentifier": address}),
            )
        };
        let iri = self.iri(class, &format!("address:{class}:{address}"));
        if self.first_time(&iri.iri) {
            let facet_class = match class {
                "PhoneAccount" => "PhoneAccountFacet",
                "EmailAddress" => "EmailAddressFacet",
                _ => "AccountFacet",
            };
            let mut facet = facet;
            facet["@id"] = json!(iri.facet(facet_class));
            facet["@type"] = json!(format!("uco-observable:{facet_class}"));
            self.node(&json!({
                "@id": iri.iri,
                "@type": format!("uco-observable:{class}"),
                "uco-core:hasFacet": [facet],
            }))?;
        }
        Ok(iri)
    }

    /// The application a record belongs to (`sms`, `imessage`, `phone`).
    fn application(&mut self, service: &str) -> Result<Iri> {
        let iri = self.iri("Application", &format!("application:{service}"));
        if self.first_time(&iri.iri) {
            self.node(&json!({
                "@id": iri.iri,
                "@type": "uco-observable:Application",
                "uco-core:name": service,
            }))?;
        }
        Ok(iri)
    }

    /// The organisation a contact works for.
    fn organization(&mut self, name: &str) -> Result<Iri> {
        let iri = self.iri("Organization", &format!("organization:{name}"));
        if self.first_time(&iri.iri) {
            self.node(&json!({
                "@id": iri.iri,
                "@type": "uco-identity:Organization",
                "uco-core:name": name,
            }))?;
        }
        Ok(iri)
    }

    /// Links a record to the decoding that produced it (as its result) and
    /// to the database it was read from.
    fn record_links(
        &mut self,
        node: &mut Value,
        record: &Iri,
        key: &str,
        p: &Provenance,
    ) -> Result<()> {
        if let Some(action) = self.decoding_of.get(&(p.decoder.clone(), p.file.clone())) {
            node["@reverse"] = json!({ "uco-action:result": reference(action) });
        }
        if p.file.is_empty() {
            return Ok(());
        }
        let rel = self.iri("ObservableRelationship", &format!("contained:{key}"));
        let target = self.case_file(&p.file, EntryKind::File).reference();
        let mut rel_node = contained_within(&rel, record.reference(), target);
        if let Some(place) = place_in_source(p) {
            rel_node["uco-core:hasFacet"] = json!([{
                "@id": rel.facet("PathRelationFacet"),
                "@type": "uco-observable:PathRelationFacet",
                "uco-observable:path": place,
            }]);
        }
        self.node(node)?;
        self.node(&rel_node)
    }

    fn messages(&mut self) -> Result<()> {
        for (n, m) in self.case.records::<Message>("messages")?.enumerate() {
            let m = m?;
            let key = format!("messages:{n}");
            let iri = self.iri("Message", &format!("record:{key}"));
            let mut facet = json!({
                "@id": iri.facet("MessageFacet"),
                "@type": "uco-observable:MessageFacet",
                "uco-observable:messageType": m.service,
            });
            facet["uco-observable:application"] = self.application(&m.service)?.reference();
            if let Some(body) = &m.body {
                facet["uco-observable:messageText"] = json!(body);
            }
            // The time the sender sent it; the time of an outgoing message
            // is its sending when nothing else is stored.
            let sent = m.sent.as_ref().or(match m.direction {
                Direction::Outgoing => m.time.as_ref(),
                _ => None,
            });
            if let Some(t) = sent.and_then(xsd_timestamp) {
                facet["uco-observable:sentTime"] = t;
            }
            if let Some(from) = &m.from {
                facet["uco-observable:from"] = self.address(from)?.reference();
            }
            let mut to = Vec::new();
            for addr in &m.to {
                to.push(self.address(addr)?.reference());
            }
            if !to.is_empty() {
                facet["uco-observable:to"] = json!(to);
            }
            let mut node = json!({
                "@id": iri.iri,
                "@type": "uco-observable:Message",
                "uco-core:tag": [direction_name(m.direction)],
                "uco-core:hasFacet": [facet],
            });
            let lines = message_lines(&m);
            if !lines.is_empty() {
                node["uco-core:description"] = json!(lines);
            }
            if let Some(thread) = &m.thread {
                self.thread_item(&iri, &m.provenance.file, thread, &key)?;
            }
            self.record_links(&mut node, &iri, &key, &m.provenance)?;
            for (i, part) in m.parts.iter().enumerate() {
                let Some(path) = part
                    .attachment
                    .as_ref()
                    .and_then(|a| a.case_path.as_deref())
                else {
                    continue;
                };
                let rel = self.iri("ObservableRelationship", &format!("attachment:{key}:{i}"));
                self.node(&json!({
                    "@id": rel.iri,
                    "@type": "uco-observable:ObservableRelationship",
                    "uco-core:source": self.case_file(path, EntryKind::File).reference(),
                    "uco-core:target": iri.reference(),
                    "uco-core:kindOfRelationship": "Attachment_Of",
                    "uco-core:isDirectional": true,
                }))?;
            }
        }
        Ok(())
    }

    /// Puts a message into its conversation: the `MessageThread` (written
    /// once) and its `types:Thread`, which gets the message's item through
    /// `@reverse`, so no node lists a whole conversation.
    fn thread_item(&mut self, message: &Iri, file: &str, thread: &str, key: &str) -> Result<()> {
        let conversation = self.iri("MessageThread", &format!("thread:{file}\n{thread}"));
        let items = conversation.inherent(
            "Thread",
            "https://ontology.unifiedcyberontology.org/uco/types/Thread",
        );
        if self.first_time(&conversation.iri) {
            self.node(&json!({
                "@id": conversation.iri,
                "@type": "uco-observable:MessageThread",
                "uco-core:name": format!("conversation {thread} of {}", name_of(file)),
                "uco-core:hasFacet": [{
                    "@id": conversation.facet("MessageThreadFacet"),
                    "@type": "uco-observable:MessageThreadFacet",
                    "uco-observable:messageThread": reference(&items),
                }],
            }))?;
            self.node(&json!({ "@id": items, "@type": "uco-types:Thread" }))?;
        }
        let item = self.iri("ThreadItem", &format!("thread-item:{key}"));
        self.node(&json!({
            "@id": item.iri,
            "@type": "uco-types:ThreadItem",
            "co:itemContent": message.reference(),
            "@reverse": { "co:item": reference(&items) },
        }))
    }

    fn contacts(&mut self) -> Result<()> {
        for (n, c) in self.case.records::<Contact>("contacts")?.enumerate() {
            let c = c?;
            let key = format!("contacts:{n}");
            let iri = self.iri("Contact", &format!("record:{key}"));
            // The phone, e-mail and affiliation entries inhere in the facet.
            let facet_ns = iri.facet_iri("ContactFacet");
            let mut facet = json!({ "@id": facet_ns.iri, "@type": "uco-observable:ContactFacet" });
            for (field, value) in [
                ("displayName", &c.name),
                ("firstName", &c.given_name),
                ("lastName", &c.family_name),
            ] {
                if let Some(v) = value {
                    facet[format!("uco-observable:{field}")] = json!(v);
                }
            }
            let mut lines = Vec::new();
            let mut phones = Vec::new();
            for (i, phone) in c.phones.iter().enumerate() {
                let number = self.address(&phone.value)?;
                let mut entry = json!({
                    "@id": facet_ns.inherent("ContactPhone", &format!("{OBSERVABLE}contactPhone/{i}")),
                    "@type": "uco-observable:ContactPhone",
                    "uco-observable:contactPhoneNumber": number.reference(),
                });
                match phone.label.as_deref().map(phone_scope) {
                    Some(Some(scope)) => entry["uco-observable:contactPhoneScope"] = json!(scope),
                    Some(None) => lines.push(format!(
                        "phone {}, label: {}",
                        phone.value,
                        phone.label.as_deref().unwrap_or_default()
                    )),
                    None => {}
                }
                phones.push(entry);
            }
            if !phones.is_empty() {
                facet["uco-observable:contactPhone"] = json!(phones);
            }
            let mut emails = Vec::new();
            for (i, email) in c.emails.iter().enumerate() {
                let address = self.address(&email.value)?;
                let mut entry = json!({
                    "@id": facet_ns.inherent("ContactEmail", &format!("{OBSERVABLE}contactEmail/{i}")),
                    "@type": "uco-observable:ContactEmail",
                    "uco-observable:emailAddress": address.reference(),
                });
                match email.label.as_deref().map(email_scope) {
                    Some(Some(scope)) => entry["uco-observable:contactEmailScope"] = json!(scope),
                    Some(None) => lines.push(format!(
                        "e-mail {}, label: {}",
                        email.value,
                        email.label.as_deref().unwrap_or_default()
                    )),
                    None => {}
                }
                emails.push(entry);
            }
            if !emails.is_empty() {
                facet["uco-observable:contactEmail"] = json!(emails);
            }
            if let Some(org) = &c.organization {
                let org = self.organization(org)?;
                facet["uco-observable:contactAffiliation"] = json!([{
                    "@id": facet_ns.inherent("ContactAffiliation", &format!("{OBSERVABLE}contactAffiliation/0")),
                    "@type": "uco-observable:ContactAffiliation",
                    "uco-observable:contactOrganization": org.reference(),
                }]);
            }
            if let Some(account) = &c.account {
                let parts: Vec<&str> = [account.kind.as_deref(), account.name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                if !parts.is_empty() {
                    lines.push(format!("synced with the account {}", parts.join(" ")));
                }
            }
            lines.extend(c.notes.iter().cloned());
            let mut node = json!({
                "@id": iri.iri,
                "@type": "uco-observable:Contact",
                "uco-core:hasFacet": [facet],
            });
            if c.deleted {
                node["uco-core:tag"] = json!(["deleted"]);
                lines.push("marked deleted in the source".to_owned());
            }
            if !lines.is_empty() {
                node["uco-core:description"] = json!(lines);
            }
            self.record_links(&mut node, &iri, &key, &c.provenance)?;
        }
        Ok(())
    }

    fn calls(&mut self) -> Result<()> {
        for (n, c) in self.case.records::<Call>("calls")?.enumerate() {
            let c = c?;
            let key = format!("calls:{n}");
            let iri = self.iri("Call", &format!("record:{key}"));
            let mut facet = json!({
                "@id": iri.facet("CallFacet"),
                "@type": "uco-observable:CallFacet",
                "uco-observable:callType": call_type_name(c.call_type),
            });
            if let Some(service) = &c.service {
                facet["uco-observable:application"] = self.application(service)?.reference();
            }
            if let Some(t) = c.time.as_ref().and_then(xsd_timestamp) {
                facet["uco-observable:startTime"] = t;
            }
            if let Some(d) = c.duration_s {
                facet["uco-observable:duration"] = json!(d);
            }
            // The other party called, or was called; the handset's own
            // number is not in the record.
            if let Some(number) = &c.number {
                let party = self.address(number)?.reference();
                match c.call_type {
                    CallType::Outgoing => facet["uco-observable:to"] = json!([party]),
                    CallType::Unknown => facet["uco-observable:participant"] = json!([party]),
                    _ => facet["uco-observable:from"] = party,
                }
            }
            let mut lines = Vec::new();
            if let Some(name) = &c.name {
                lines.push(format!("name shown by the handset: {name}"));
            }
            if let Some(raw) = c.type_raw {
                lines.push(format!("call type as stored: {raw}"));
            }
            lines.extend(c.notes.iter().cloned());
            let mut node = json!({
                "@id": iri.iri,
                "@type": "uco-observable:Call",
                "uco-core:hasFacet": [facet],
            });
            if !lines.is_empty() {
                node["uco-core:description"] = json!(lines);
            }
            self.record_links(&mut node, &iri, &key, &c.provenance)?;
        }
        Ok(())
    }
}

/// Whether the evidence is a folder (an unpacked extraction, an iTunes
/// backup) rather than one file.
/// The relationship `rel`: `source` is contained within `target`.
fn contained_within(rel: &Iri, source: Value, target: Value) -> Value {
    json!({
        "@id": rel.iri,
        "@type": "uco-observable:ObservableRelationship",
        "uco-core:source": source,
        "uco-core:target": target,
        "uco-core:kindOfRelationship": "Contained_Within",
        "uco-core:isDirectional": true,
    })
}

fn is_folder(ev: &EvidenceInfo) -> bool {
    matches!(ev.kind.as_str(), "dir" | "folder" | "directory")
}

/// The UCO class of an entry of the dump.
fn file_class(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "File",
        EntryKind::Dir => "Directory",
        EntryKind::Symlink => "SymbolicLink",
        _ => "FileSystemObject",
    }
}

fn kind_name(kind: EntryKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".to_owned())
}

/// The path of an entry as the dump stored it, or its case path without
/// `files/` when that name is not UTF-8 (the case path is then the host's
/// safe spelling of it).
fn dump_path(item: &FileItem) -> String {
    match &item.name {
        Value::String(s) => s.trim_end_matches('/').to_owned(),
        _ => item
            .path
            .strip_prefix("files/")
            .unwrap_or(&item.path)
            .to_owned(),
    }
}

/// The last component of a `/`-separated path.
fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A file facet; `extension` only for regular files (a folder named
/// `com.android.providers.contacts` has none).
fn file_facet(
    owner: &Iri,
    name: &str,
    path: Option<&str>,
    extension: bool,
    meta: Option<&EntryMeta>,
) -> Value {
    let mut f = Map::new();
    f.insert("@id".into(), json!(owner.facet("FileFacet")));
    f.insert("@type".into(), json!("uco-observable:FileFacet"));
    f.insert("uco-observable:fileName".into(), json!(name));
    if let Some(path) = path {
        f.insert("uco-observable:filePath".into(), json!(path));
    }
    if let Some((stem, ext)) = name.rsplit_once('.')
        && extension
        && !stem.is_empty()
        && !ext.is_empty()
    {
        f.insert("uco-observable:extension".into(), json!(ext));
    }
    if let Some(meta) = meta {
        for (key, time) in [
            ("modifiedTime", meta.mtime),
            ("accessedTime", meta.atime),
            ("metadataChangeTime", meta.ctime),
            ("observableCreatedTime", meta.btime),
        ] {
            if let Some(t) = time.and_then(xsd_time) {
                f.insert(format!("uco-observable:{key}"), t);
            }
        }
    }
    Value::Object(f)
}

/// A content-data facet holding `digests` (in the custody log's lowercase
/// hex) as `types:Hash` nodes named as case-utils names them.
fn content_facet(owner: &Iri, digests: &Digests, size: Option<u64>) -> Value {
    let hashes: Vec<Value> = digests
        .iter()
        .filter_map(|(algorithm, value)| {
            let method = match algorithm.as_str() {
                "md5" => "MD5",
                "sha1" => "SHA1",
                "sha256" => "SHA256",
                _ => return None,
            };
            Some(hash_node(method, value))
        })
        .collect();
    let mut f = json!({
        "@id": owner.facet("ContentDataFacet"),
        "@type": "uco-observable:ContentDataFacet",
        "uco-observable:hash": hashes,
    });
    if let Some(size) = size {
        f["uco-observable:sizeInBytes"] = json!(size);
    }
    f
}

/// A `types:Hash`: its UUID is named by `urn:hash::<method>:<value>` under
/// the URL name space (case-utils' `hash_method_value_uuid`), so the same
/// digest is the same node in every graph. `hashMethod` is a plain string:
/// UCO 1.4 warns about the vocabulary datatype.
fn hash_node(method: &str, value: &str) -> Value {
    let value = value.to_ascii_lowercase();
    let urn = format!("urn:hash::{}:{value}", method.to_ascii_lowercase());
    json!({
        "@id": format!("kb:Hash-{}", format_uuid(&uuid5(&NAMESPACE_URL, urn.as_bytes()))),
        "@type": "uco-types:Hash",
        "uco-types:hashMethod": method,
        "uco-types:hashValue": { "@type": "xsd:hexBinary", "@value": value },
    })
}

fn evidence_lines(ev: &EvidenceInfo, dir: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if dir {
        for (algorithm, value) in &ev.hashes {
            lines.push(format!("{algorithm} of the folder: {value}"));
        }
    }
    if let Some(method) = &ev.hash_method {
        lines.push(format!("digests {method}"));
    }
    if let Some(given) = &ev.acquisition_sha256 {
        let computed = ev.hashes.get("sha256");
        let verdict = match computed {
            Some(c) if c.eq_ignore_ascii_case(given) => "matches",
            Some(_) => "does not match",
            None => "was not compared with",
        };
        lines.push(format!(
            "the acquisition SHA-256 the examiner gave, {given}, {verdict} the SHA-256 computed"
        ));
    }
    for (when, unchanged) in &ev.checks {
        let state = if *unchanged { "unchanged" } else { "CHANGED" };
        lines.push(format!("checked at the {when} of a run: {state}"));
    }
    lines
}

fn meta_lines(meta: &EntryMeta) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(mode) = meta.mode {
        lines.push(format!("mode: {mode:o}"));
    }
    let owner = |id: Option<u64>, name: &Option<String>| match (id, name) {
        (Some(id), Some(name)) => Some(format!("{id} ({name})")),
        (Some(id), None) => Some(id.to_string()),
        (None, Some(name)) => Some(name.clone()),
        (None, None) => None,
    };
    if let Some(user) = owner(meta.uid, &meta.user) {
        lines.push(format!("owner: {user}"));
    }
    if let Some(group) = owner(meta.gid, &meta.group) {
        lines.push(format!("group: {group}"));
    }
    if let Some(target) = &meta.link_target {
        lines.push(format!(
            "link target: {}",
            String::from_utf8_lossy(&target.0)
        ));
    }
    lines
}

fn message_lines(m: &Message) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(subject) = &m.subject {
        lines.push(format!("subject: {subject}"));
    }
    if let Some(folder) = &m.folder {
        lines.push(format!("folder: {folder}"));
    }
    for (what, t) in [
        ("received", &m.received),
        ("read", &m.read_at),
        ("delivered", &m.delivered_at),
    ] {
        if let Some(utc) = t.as_ref().and_then(|t| t.utc.as_deref()) {
            lines.push(format!("{what}: {utc}"));
        }
    }
    if let Some(read) = m.read {
        lines.push(
            if read {
                "read on the handset"
            } else {
                "not read on the handset"
            }
            .to_owned(),
        );
    }
    if let Some(status) = &m.status {
        lines.push(format!("status: {status}"));
    }
    lines.extend(m.notes.iter().cloned());
    lines
}

/// Where in its source file a record was read, for its relationship's path.
fn place_in_source(p: &Provenance) -> Option<String> {
    match (&p.table, p.row, p.index) {
        (Some(table), Some(row), _) => Some(format!("table {table}, row {row}")),
        (Some(table), None, Some(index)) => Some(format!("table {table}, element {index}")),
        (Some(table), None, None) => Some(format!("table {table}")),
        (None, _, Some(index)) => Some(format!("element {index}")),
        (None, Some(row), None) => Some(format!("row {row}")),
        (None, None, None) => None,
    }
}

/// The examiner of the run an entry belongs to (the last run begun before it).
fn examiner_at(s: &Summary, seq: u64) -> Option<&str> {
    s.runs
        .iter()
        .rev()
        .find(|r| r.seq <= seq)
        .and_then(|r| r.examiner.as_deref())
        .or(s.case.examiner.as_deref())
}

/// UCO's `ActionStatusTypeVocab` term for a run's outcome.
fn run_status(outcome: Option<&str>) -> Option<&'static str> {
    match outcome? {
        "clean" => Some("Success"),
        "completed_with_errors" => Some("Complete/Finish"),
        "failed" | "interrupted" => Some("Fail"),
        _ => None,
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Incoming => "incoming",
        Direction::Outgoing => "outgoing",
        Direction::Draft => "draft",
        Direction::Unknown => "direction unknown",
    }
}

fn call_type_name(t: CallType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `ContactPhoneScopeVocab` term for a decoder's phone label, if it has one.
fn phone_scope(label: &str) -> Option<&'static str> {
    match label.to_ascii_lowercase().as_str() {
        "home" => Some("home"),
        "work" => Some("work"),
        "school" => Some("school"),
        "mobile" => Some("mobile"),
        "main" => Some("main"),
        "pager" => Some("pager"),
        "fax_home" | "homefax" | "home fax" => Some("home fax"),
        "fax_work" | "workfax" | "work fax" => Some("work fax"),
        _ => None,
    }
}

/// `ContactEmailScopeVocab` term for an e-mail label, if it has one.
fn email_scope(label: &str) -> Option<&'static str> {
    match label.to_ascii_lowercase().as_str() {
        "home" => Some("home"),
        "work" => Some("work"),
        "school" => Some("school"),
        "cloud" | "icloud" => Some("cloud"),
        _ => None,
    }
}

/// Digits with the punctuation people write numbers with: a phone number,
/// not an e-mail address or an app handle.
fn is_phone_number(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| {
            c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | ' ' | '.' | '#' | '*')
        })
}

fn reference(iri: &str) -> Value {
    json!({ "@id": iri })
}

/// An `xsd:dateTime` literal, for years 1 to 9999 only (the rest have no
/// valid `xsd:dateTime` spelling the validator accepts).
fn xsd_datetime(t: jiff::Timestamp) -> Option<Value> {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in Unix seconds.
    const FIRST: i64 = -62_135_596_800;
    const LAST: i64 = 253_402_300_799;
    (FIRST..=LAST)
        .contains(&t.as_second())
        .then(|| json!({ "@type": "xsd:dateTime", "@value": t.to_string() }))
}

/// A time of the custody log or a record (RFC 3339, UTC), re-spelled in
/// RFC 3339's UTC form so that only valid literals reach the graph.
fn xsd_time_text(text: &str) -> Option<Value> {
    text.parse::<jiff::Timestamp>().ok().and_then(xsd_datetime)
}

fn xsd_timestamp(t: &Timestamp) -> Option<Value> {
    t.utc.as_deref().and_then(xsd_time_text)
}

fn xsd_time(t: Time) -> Option<Value> {
    let nanos = i32::try_from(t.nanos).ok()?;
    jiff::Timestamp::new(t.secs, nanos)
        .ok()
        .and_then(xsd_datetime)
}

/// RFC 4122 version 5 UUID: SHA-1 of the name space and the name.
fn uuid5(namespace: &[u8; 16], name: &[u8]) -> [u8; 16] {
    let mut sha = Sha1::new();
    sha.update(namespace);
    sha.update(name);
    let digest = sha.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x50;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

fn format_uuid(u: &[u8; 16]) -> String {
    let hex = exhibit_plugin_sdk::to_hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use exhibit_core::custody::{CustodyLog, LOG_FILE, action};

    fn uuid_text(text: &str) -> [u8; 16] {
        let bytes = exhibit_plugin_sdk::from_hex(&text.replace('-', "")).expect("hex");
        bytes.try_into().expect("16 bytes")
    }

    /// The values case-utils 0.18.0 documents (and its Python computes) for
    /// the same names, so our IRIs are the ones case-utils would make.
    #[test]
    fn uuids_are_the_ones_case_utils_makes() {
        assert_eq!(
            format_uuid(&uuid5(&NAMESPACE_URL, b"https://caseontology.org/")),
            "2c6406b7-3396-5fdd-b9bf-c6e21273e40a"
        );
        let file = Iri {
            iri: "kb:File-ac6b44cf-dc6b-4f2c-a09d-c9beb0a345a9".into(),
            uuid: uuid_text("ac6b44cf-dc6b-4f2c-a09d-c9beb0a345a9"),
        };
        assert_eq!(
            file.facet("FileFacet"),
            "kb:FileFacet-01d292e3-0f38-5974-868d-006ef07f5186"
        );
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let hash = hash_node("SHA256", &empty.to_ascii_uppercase());
        assert_eq!(hash["@id"], "kb:Hash-aac159a3-835b-5718-a008-fe6716b2533f");
        assert_eq!(hash["uco-types:hashMethod"], "SHA256");
        assert_eq!(hash["uco-types:hashValue"]["@type"], "xsd:hexBinary");
        assert_eq!(hash["uco-types:hashValue"]["@value"], empty);
    }

    #[test]
    fn times_are_utc_xsd_datetimes_or_nothing() {
        let at = |secs, nanos| xsd_time(Time { secs, nanos }).map(|v| v["@value"].clone());
        assert_eq!(at(1_709_287_200, 0), Some(json!("2024-03-01T10:00:00Z")));
        assert_eq!(
            at(1_709_287_200, 500_000_000),
            Some(json!("2024-03-01T10:00:00.5Z"))
        );
        // Year 0 and before have no xsd:dateTime the validator accepts.
        assert_eq!(at(-62_135_596_801, 0), None);
        assert_eq!(at(-62_135_596_800, 0), Some(json!("0001-01-01T00:00:00Z")));
        let t = xsd_time_text("2026-12-04T18:54:30.01818115Z").expect("parses");
        assert_eq!(t["@type"], "xsd:dateTime");
        assert_eq!(t["@value"], "2026-12-04T18:54:30.01818115Z");
        assert_eq!(xsd_time_text("yesterday"), None);
    }

    #[test]
    fn labels_map_to_uco_vocabularies_only() {
        assert_eq!(phone_scope("fax_work"), Some("work fax"));
        assert_eq!(phone_scope("homefax"), Some("home fax"));
        assert_eq!(phone_scope("other"), None);
        assert_eq!(email_scope("home"), Some("home"));
        assert_eq!(email_scope("custom"), None);
        assert!(is_phone_number("+1 (555) 123-0001"));
        assert!(!is_phone_number("alice@example.com"));
        assert!(!is_phone_number("+"));
    }

    const DB: &str = "files/data/data/com.android.providers.telephony/databases/mmssms.db";
    const DB_SHA: &str = "f2ba9a9a851bd7fbe582bf651312e1169b9b5b443ad5cda1949c601fc4079c67";
    const TAR_SHA: &str = "6398e81d2c56ed3363ea26d3d4e79be893189a32bc57850d21b54cabbb0c50bf";
    const ANDROID_SHA: &str = "4ad70bb3ac764c6320d4de2e9e19e279f6d8611b20ccc00368cb10476b4bc811";

    /// A case of one database, one message, one contact, one call and one
    /// symbolic link, written through the real custody log.
    fn small_case() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let artifacts = root.join("artifacts");
        std::fs::create_dir_all(&artifacts).expect("mkdir");
        let prov = json!({"decoder": "android 0.1.0", "file": DB, "sha256": DB_SHA, "table": "sms", "row": 1, "index": null});
        let message = json!({
            "service": "sms", "direction": "incoming", "folder": "inbox", "thread": "1",
            "from": "+15551230001", "to": [], "subject": null, "body": "Hi, lunch?",
            "time": {"utc": "2024-03-01T08:00:00.000Z", "raw": 1_709_280_000_000_i64, "format": "unix_ms"},
            "sent": {"utc": "2024-03-01T07:59:58.000Z", "raw": 1_709_279_998_000_i64, "format": "unix_ms"},
            "received": null, "read": true, "read_at": null, "delivered_at": null, "status": null,
            "parts": [], "notes": [], "provenance": prov,
        });
        let contact = json!({
            "name": "Alice Example", "given_name": "Alice", "family_name": "Example",
            "phones": [{"value": "+15551230001", "label": "mobile"}, {"value": "+15551230009", "label": "Partner"}],
            "emails": [{"value": "alice@example.com", "label": "home"}],
            "organization": "Example GmbH", "account": null, "deleted": true, "notes": [],
            "provenance": {"decoder": "android 0.1.0", "file": DB, "sha256": DB_SHA, "table": "raw_contacts", "row": 7, "index": null},
        });
        let call = json!({
            "number": "+15551230001", "name": "Alice Example", "type": "missed", "type_raw": 3,
            "time": {"utc": "2024-03-01T09:50:00.000Z", "raw": 1_709_286_600_000_i64, "format": "unix_ms"},
            "duration_s": 0, "service": "phone", "notes": [],
            "provenance": {"decoder": "android 0.1.0", "file": DB, "sha256": DB_SHA, "table": "calls", "row": 2, "index": null},
        });
        for (kind, record) in [
            ("messages", &message),
            ("contacts", &contact),
            ("calls", &call),
        ] {
            std::fs::write(
                artifacts.join(format!("{kind}.jsonl")),
                format!("{record}\n"),
            )
            .expect("write records");
        }
        let mut log = CustodyLog::create(&root.join(LOG_FILE)).expect("log");
        let entries = [
            (
                action::CASE_OPENED,
                json!({"examiner": "Ann Example", "case_number": "X-1", "tool": "exhibit", "tool_version": "0.1.0", "host": "lab-1", "os": "linux", "arch": "x86_64", "hash_algorithms": ["sha256"]}),
            ),
            (
                action::PLUGIN_LOADED,
                json!({"name": "tar", "version": "0.1.0", "kind": "format", "sha256": TAR_SHA, "path": "/opt/exhibit/libexhibit_format_tar.so", "description": "tar archives"}),
            ),
            (
                action::PLUGIN_LOADED,
                json!({"name": "android", "version": "0.1.0", "kind": "artifact", "sha256": ANDROID_SHA, "path": "/opt/exhibit/libexhibit_artifacts_android.so", "description": "Android"}),
            ),
            (
                action::EVIDENCE_OPENED,
                json!({"path": "/evidence/phone.tar", "kind": "file", "size": 40960, "mtime": "2026-01-02T03:04:05Z"}),
            ),
            (
                action::PLUGIN_SELECTED,
                json!({"plugin": "tar", "version": "0.1.0", "confidence": 100, "forced": false}),
            ),
            (
                action::FILE_EXTRACTED,
                json!({"path": DB, "name": "data/data/com.android.providers.telephony/databases/mmssms.db", "size": 4096, "complete": true, "hashes": {"sha256": DB_SHA}, "meta": {"kind": "file", "mode": 432, "uid": 10057, "user": "u0_a57", "mtime": {"secs": 1_709_287_200, "nanos": 0}, "offset": 2048}}),
            ),
            (
                action::ENTRY_RECORDED,
                json!({"path": null, "name": "sdcard", "kind": "symlink", "meta": {"kind": "symlink", "link_target": "/data/media/0", "offset": 8192}}),
            ),
            (
                action::EVIDENCE_HASHED,
                json!({"hashes": {"sha256": "55".repeat(32)}, "method": "hashed as read"}),
            ),
            (
                action::FILE_DECODED,
                json!({"decoder": "android", "version": "0.1.0", "file": DB, "sha256": DB_SHA, "records": {"messages": 1, "contacts": 1, "calls": 1}, "status": "ok", "isolated": false}),
            ),
            (
                action::ARTIFACT_WRITTEN,
                json!({"kind": "messages", "path": "artifacts/messages.jsonl", "records": 1, "size": 10, "hashes": {"sha256": "11".repeat(32)}}),
            ),
            (
                action::ARTIFACT_WRITTEN,
                json!({"kind": "contacts", "path": "artifacts/contacts.jsonl", "records": 1, "size": 10, "hashes": {"sha256": "22".repeat(32)}}),
            ),
            (
                action::ARTIFACT_WRITTEN,
                json!({"kind": "calls", "path": "artifacts/calls.jsonl", "records": 1, "size": 10, "hashes": {"sha256": "33".repeat(32)}}),
            ),
            (action::RUN_FINISHED, json!({"outcome": "clean"})),
        ];
        for (act, details) in entries {
            log.append(act, details).expect("append");
        }
        dir
    }

    fn export(root: &std::path::Path) -> Vec<u8> {
        let case = Case::open(root).expect("open");
        let mut out = Vec::new();
        write(&case, &mut out).expect("export");
        out
    }

    /// The node of `graph` with `@id` `iri`.
    fn by_id<'g>(graph: &'g [Value], iri: &Value) -> &'g Value {
        graph
            .iter()
            .find(|n| n["@id"] == *iri)
            .unwrap_or_else(|| panic!("no node {iri}"))
    }

    fn of_type<'g>(graph: &'g [Value], t: &str) -> Vec<&'g Value> {
        graph.iter().filter(|n| n["@type"] == t).collect()
    }

    #[test]
    fn a_case_exports_its_files_records_and_actions() {
        let dir = small_case();
        let bytes = export(dir.path());
        // Deterministic: the same case gives the same bytes.
        assert_eq!(bytes, export(dir.path()));
        let doc: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(doc["@context"]["kb"], KB);
        let graph = doc["@graph"].as_array().expect("graph");

        // Every node is named `kb:<Class>-<UUIDv5>`, as the validator advises.
        for node in graph {
            let iri = node["@id"].as_str().expect("id");
            let uuid = &iri[iri.len().saturating_sub(36)..];
            assert!(
                iri.starts_with("kb:") && uuid.as_bytes().get(14) == Some(&b'5'),
                "{iri}"
            );
        }

        // The database, spelled out.
        let files = of_type(graph, "uco-observable:File");
        let db = files
            .iter()
            .find(|f| f["uco-core:hasFacet"][0]["uco-observable:fileName"] == "mmssms.db")
            .expect("database node");
        let ff = &db["uco-core:hasFacet"][0];
        assert_eq!(
            ff["uco-observable:filePath"],
            "data/data/com.android.providers.telephony/databases/mmssms.db"
        );
        assert_eq!(ff["uco-observable:extension"], "db");
        assert_eq!(ff["uco-observable:sizeInBytes"], 4096);
        assert_eq!(
            ff["uco-observable:modifiedTime"],
            json!({"@type": "xsd:dateTime", "@value": "2024-03-01T10:00:00Z"})
        );
        let hash = &db["uco-core:hasFacet"][1]["uco-observable:hash"][0];
        assert_eq!(hash["uco-types:hashMethod"], "SHA256");
        assert_eq!(hash["uco-types:hashValue"]["@value"], DB_SHA);
        assert_eq!(
            db["uco-core:description"],
            json!(["mode: 660", "owner: 10057 (u0_a57)"])
        );
        let extraction = by_id(graph, &db["@reverse"]["uco-action:result"]["@id"]);
        assert_eq!(extraction["uco-core:name"], "extraction");
        assert_eq!(extraction["uco-action:actionStatus"], "Success");
        let evidence = by_id(graph, &extraction["uco-action:object"][0]["@id"]);
        assert_eq!(
            evidence["uco-core:hasFacet"][0]["uco-observable:filePath"],
            "/evidence/phone.tar"
        );
        let tar = by_id(graph, &extraction["uco-action:instrument"][1]["@id"]);
        assert_eq!(tar["uco-core:name"], "tar");

        // The link has no case path and is still a node of its own.
        let links = of_type(graph, "uco-observable:SymbolicLink");
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0]["uco-core:description"],
            json!(["link target: /data/media/0"])
        );

        // Each plugin's library is a file with its SHA-256, loaded by the tool.
        let loaded = of_type(graph, "uco-core:Relationship");
        assert_eq!(loaded.len(), 2);
        for rel in loaded {
            assert_eq!(rel["uco-core:kindOfRelationship"], "Loaded_From");
            let tool = by_id(graph, &rel["uco-core:source"]["@id"]);
            let library = by_id(graph, &rel["uco-core:target"]["@id"]);
            let sha = &library["uco-core:hasFacet"][1]["uco-observable:hash"][0]["uco-types:hashValue"]
                ["@value"];
            match tool["uco-core:name"].as_str() {
                Some("tar") => assert_eq!(sha, TAR_SHA),
                Some("android") => assert_eq!(sha, ANDROID_SHA),
                other => panic!("unexpected tool {other:?}"),
            }
        }

        let record = by_id(
            graph,
            &json!(of_type(graph, "case-investigation:ProvenanceRecord")[0]["@id"]),
        );
        assert_eq!(record["case-investigation:exhibitNumber"], "X-1");

        // The message, its sender and where it was read.
        let messages = of_type(graph, "uco-observable:Message");
        assert_eq!(messages.len(), 1);
        let m = messages[0];
        let facet = &m["uco-core:hasFacet"][0];
        assert_eq!(facet["uco-observable:messageText"], "Hi, lunch?");
        assert_eq!(
            facet["uco-observable:sentTime"]["@value"],
            "2024-03-01T07:59:58Z"
        );
        let sender = by_id(graph, &facet["uco-observable:from"]["@id"]);
        assert_eq!(sender["@type"], "uco-observable:PhoneAccount");
        assert_eq!(
            sender["uco-core:hasFacet"][0]["uco-observable:phoneNumber"],
            "+15551230001"
        );
        let decoding = by_id(graph, &m["@reverse"]["uco-action:result"]["@id"]);
        assert_eq!(decoding["uco-core:name"], "decoding");
        assert_eq!(decoding["uco-action:object"][0]["@id"], db["@id"]);
        let contained = graph
            .iter()
            .find(|n| n["uco-core:source"]["@id"] == m["@id"])
            .expect("message relationship");
        assert_eq!(contained["uco-core:kindOfRelationship"], "Contained_Within");
        assert_eq!(contained["uco-core:target"]["@id"], db["@id"]);
        assert_eq!(
            contained["uco-core:hasFacet"][0]["uco-observable:path"],
            "table sms, row 1"
        );
        let item = graph
            .iter()
            .find(|n| n["co:itemContent"]["@id"] == m["@id"])
            .expect("thread item");
        let thread = &item["@reverse"]["co:item"]["@id"];
        let conversation = of_type(graph, "uco-observable:MessageThread")[0];
        assert_eq!(
            conversation["uco-core:hasFacet"][0]["uco-observable:messageThread"]["@id"],
            *thread
        );

        // The contact: one phone in UCO's scope vocabulary, one not.
        let contact = of_type(graph, "uco-observable:Contact")[0];
        let cf = &contact["uco-core:hasFacet"][0];
        assert_eq!(cf["uco-observable:displayName"], "Alice Example");
        let phones = cf["uco-observable:contactPhone"]
            .as_array()
            .expect("phones");
        assert_eq!(phones[0]["uco-observable:contactPhoneScope"], "mobile");
        assert_eq!(phones[1].get("uco-observable:contactPhoneScope"), None);
        // The same number as the message's sender is the same node.
        assert_eq!(
            phones[0]["uco-observable:contactPhoneNumber"]["@id"],
            facet["uco-observable:from"]["@id"]
        );
        assert_eq!(of_type(graph, "uco-observable:PhoneAccount").len(), 2);
        assert_eq!(contact["uco-core:tag"], json!(["deleted"]));
        assert_eq!(
            contact["uco-core:description"],
            json!([
                "phone +15551230009, label: Partner",
                "marked deleted in the source"
            ])
        );

        // The missed call came from the number.
        let call = of_type(graph, "uco-observable:Call")[0];
        let cf = &call["uco-core:hasFacet"][0];
        assert_eq!(cf["uco-observable:callType"], "missed");
        assert_eq!(cf["uco-observable:duration"], 0);
        assert_eq!(
            cf["uco-observable:from"]["@id"],
            facet["uco-observable:from"]["@id"]
        );
    }

    /// Node names come from the first custody line, and report runs are not
    /// part of the graph, so recording an export in the case (a report run
    /// by someone else, say) changes nothing in the next export.
    #[test]
    fn a_recorded_report_run_changes_nothing() {
        let dir = small_case();
        let before = export(dir.path());
        let (mut log, _) = CustodyLog::open_append(&dir.path().join(LOG_FILE)).expect("reopen");
        log.append(
            action::CASE_REOPENED,
            json!({"purpose": "report", "examiner": "Rex Porter"}),
        )
        .expect("append");
        log.append(
            action::REPORT_WRITTEN,
            json!({"format": "case-uco", "path": "reports/case-uco.jsonld"}),
        )
        .expect("append");
        log.append(action::RUN_FINISHED, json!({"outcome": "clean"}))
            .expect("append");
        assert_eq!(before, export(dir.path()));
    }
}
