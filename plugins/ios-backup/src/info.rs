//! The three property lists beside the manifest: `Info.plist` (written by
//! iTunes/Finder: device name, product type, IMEI, phone number, installed
//! apps…), `Manifest.plist` (written by the device's backup agent: encryption
//! flag, keybag, `ManifestKey`, `Lockdown` identity, applications) and
//! `Status.plist` (the snapshot state and backup date). Each may be binary or
//! XML (the `plist` crate reads both).
//!
//! Keys as Apple's backup agent and iTunes write them (documented by
//! libimobiledevice `tools/idevicebackup2.c` `mobilebackup_factory_info_plist_new`,
//! and in practice by `iphone_backup_decrypt` and mvt-ios).
//!
//! Policy: a missing or unreadable plist is a warning, never the end of the
//! run; only what exhibit needs to decrypt (`IsEncrypted`, `BackupKeyBag`,
//! `ManifestKey`) is taken from `Manifest.plist` as data. The device facts go
//! to the custody log as one `device` note; nothing secret is in it.

#![forbid(unsafe_code)]

use crate::source::Source;
use exhibit_plugin_sdk::{PluginError, Session};
use plist::{Dictionary, Value};
use serde_json::{Map, Value as Json, json};

/// The largest property list read into memory (real ones are under 10 MiB,
/// most of it `Installed Applications` and app icons in `Info.plist`).
pub const PLIST_CAP: u64 = 256 * 1024 * 1024;

/// The three property lists, as far as they could be read.
#[derive(Debug, Default)]
pub struct BackupInfo {
    /// `Info.plist`.
    pub info: Option<Dictionary>,
    /// `Manifest.plist`.
    pub manifest: Option<Dictionary>,
    /// `Status.plist`.
    pub status: Option<Dictionary>,
}

/// Reads `name` as a dictionary plist; a warning and `None` when it is
/// missing or not a dictionary plist. Only cancellation is an error.
pub fn read_plist(
    session: &Session<'_>,
    source: &Source<'_, '_>,
    name: &str,
    present: bool,
) -> Result<Option<Dictionary>, PluginError> {
    if !present {
        session.warn(None, &format!("{name} is missing from the backup folder"));
        return Ok(None);
    }
    let data = match source.read_file(name, PLIST_CAP) {
        Ok(data) => data,
        Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
        Err(err) => {
            session.warn(None, &format!("{name} cannot be read: {err}"));
            return Ok(None);
        }
    };
    match Value::from_reader(std::io::Cursor::new(data)) {
        Ok(Value::Dictionary(dict)) => Ok(Some(dict)),
        Ok(_) => {
            session.warn(None, &format!("{name} is not a dictionary property list"));
            Ok(None)
        }
        Err(e) => {
            session.warn(None, &format!("{name} is not a valid property list: {e}"));
            Ok(None)
        }
    }
}

/// A plist value as JSON for the custody log: data as hex (capped), dates
/// as RFC 3339, UIDs as numbers.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::String(s) => json!(s),
        Value::Boolean(b) => json!(b),
        Value::Integer(i) => i
            .as_signed()
            .map(Json::from)
            .or_else(|| i.as_unsigned().map(Json::from))
            .unwrap_or(Json::Null),
        Value::Real(r) => json!(r),
        Value::Date(d) => json!(d.to_xml_format()),
        Value::Data(d) => json!({ "bytes": d.len() }),
        Value::Uid(u) => json!(u.get()),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Dictionary(d) => Json::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        _ => Json::Null,
    }
}

impl BackupInfo {
    /// True when `Manifest.plist` says the backup is encrypted.
    pub fn encrypted(&self) -> bool {
        self.manifest
            .as_ref()
            .and_then(|m| m.get("IsEncrypted"))
            .and_then(Value::as_boolean)
            .unwrap_or(false)
    }

    /// `Manifest.plist` data field `key`.
    pub fn manifest_data(&self, key: &str) -> Option<&[u8]> {
        self.manifest.as_ref()?.get(key)?.as_data()
    }

    /// `Status.plist` `SnapshotState`, when present.
    pub fn snapshot_state(&self) -> Option<&str> {
        self.status.as_ref()?.get("SnapshotState")?.as_string()
    }

    /// The device facts for the custody log (`case/device.json`).
    pub fn device(&self) -> Json {
        let info = self.info.as_ref();
        let lockdown = self
            .manifest
            .as_ref()
            .and_then(|m| m.get("Lockdown"))
            .and_then(Value::as_dictionary);
        // Info.plist first (iTunes' view), Manifest.plist's Lockdown second.
        let pick = |info_key: &str, lockdown_key: &str| -> Json {
            info.and_then(|d| d.get(info_key))
                .or_else(|| lockdown.and_then(|d| d.get(lockdown_key)))
                .map(to_json)
                .unwrap_or(Json::Null)
        };
        let from_info = |key: &str| -> Json {
            info.and_then(|d| d.get(key))
                .map(to_json)
                .unwrap_or(Json::Null)
        };
        let mut apps: Vec<String> = info
            .and_then(|d| d.get("Installed Applications"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_string)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if apps.is_empty() {
            // Manifest.plist's Applications dictionary is keyed by bundle id.
            apps = self
                .manifest
                .as_ref()
                .and_then(|m| m.get("Applications"))
                .and_then(Value::as_dictionary)
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default();
        }
        let last_backup = from_info("Last Backup Date");
        let last_backup = if last_backup.is_null() {
            self.status
                .as_ref()
                .and_then(|s| s.get("Date"))
                .map(to_json)
                .unwrap_or(Json::Null)
        } else {
            last_backup
        };
        json!({
            "source": "ios backup",
            "device_name": pick("Device Name", "DeviceName"),
            "display_name": from_info("Display Name"),
            "product_type": pick("Product Type", "ProductType"),
            "product_name": from_info("Product Name"),
            "ios_version": pick("Product Version", "ProductVersion"),
            "build_version": pick("Build Version", "BuildVersion"),
            "serial_number": pick("Serial Number", "SerialNumber"),
            "udid": pick("Unique Identifier", "UniqueDeviceID"),
            "target_identifier": from_info("Target Identifier"),
            "imei": from_info("IMEI"),
            "imei2": from_info("IMEI 2"),
            "meid": from_info("MEID"),
            "iccid": from_info("ICCID"),
            "phone_number": from_info("Phone Number"),
            "guid": from_info("GUID"),
            "itunes_version": from_info("iTunes Version"),
            "last_backup_date": last_backup,
            "encrypted": self.encrypted(),
            "manifest_version": self.manifest.as_ref().and_then(|m| m.get("Version")).map(to_json),
            "manifest_date": self.manifest.as_ref().and_then(|m| m.get("Date")).map(to_json),
            "passcode_set": self.manifest.as_ref().and_then(|m| m.get("WasPasscodeSet")).map(to_json),
            "snapshot_state": self.snapshot_state(),
            "full_backup": self.status.as_ref().and_then(|s| s.get("IsFullBackup")).map(to_json),
            "backup_uuid": self.status.as_ref().and_then(|s| s.get("UUID")).map(to_json),
            "installed_applications": apps,
        })
    }
}
