//! The Storage SCP: associations, C-ECHO, C-STORE, and the retry of the spool.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dicom_ul::association::server::{AccessControl, ServerAssociationOptions};
use dicom_ul::association::Association;
use dicom_ul::pdu::{AssociationRJServiceUserReason, PDataValueType, UserIdentity};
use dicom_ul::Pdu;
use scanseal_keys::SigningKey;
use scanseal_ledger::{Ledger, NewEntry};
use scanseal_seal::{seal_file_with, SealError, SealOptions};

use crate::dimse::{self, status, Command};
use crate::forward::{Destination, Forwarder};
use crate::spool::{instance_key, Spool};
use crate::GatewayError;

/// The storage SOP classes the gateway accepts (PS3.4 Annex B.5), besides Verification.
pub const STORAGE_SOP_CLASSES: &[(&str, &str)] = &[
    (
        "1.2.840.10008.5.1.4.1.1.1",
        "Computed Radiography Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.1",
        "Digital X-Ray Image Storage - For Presentation",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.1.1",
        "Digital X-Ray Image Storage - For Processing",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.2",
        "Digital Mammography X-Ray Image Storage - For Presentation",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.1.2.1",
        "Digital Mammography X-Ray Image Storage - For Processing",
    ),
    ("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage"),
    (
        "1.2.840.10008.5.1.4.1.1.3.1",
        "Ultrasound Multi-frame Image Storage",
    ),
    ("1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.4.1", "Enhanced MR Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"),
    (
        "1.2.840.10008.5.1.4.1.1.7",
        "Secondary Capture Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.7.1",
        "Multi-frame Single Bit Secondary Capture Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.7.2",
        "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.7.3",
        "Multi-frame Grayscale Word Secondary Capture Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.7.4",
        "Multi-frame True Color Secondary Capture Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.12.1",
        "X-Ray Angiographic Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.12.2",
        "X-Ray Radiofluoroscopic Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.20",
        "Nuclear Medicine Image Storage",
    ),
    (
        "1.2.840.10008.5.1.4.1.1.128",
        "Positron Emission Tomography Image Storage",
    ),
    ("1.2.840.10008.5.1.4.1.1.481.1", "RT Image Storage"),
];

/// The transfer syntaxes accepted: those the canonicalizer reads (spec/canonical-form.md).
pub const TRANSFER_SYNTAXES: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
    ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    (
        "1.2.840.10008.1.2.1.99",
        "Deflated Explicit VR Little Endian",
    ),
    ("1.2.840.10008.1.2.2", "Explicit VR Big Endian"),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"),
    ("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"),
    (
        "1.2.840.10008.1.2.4.57",
        "JPEG Lossless, Non-Hierarchical (Process 14)",
    ),
    (
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless, First-Order Prediction (Process 14 SV1)",
    ),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless Only"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
];

const VERIFICATION: &str = "1.2.840.10008.1.1";

/// Where seals go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In the instance (its seal block); the PACS receives the sealed instance.
    Embedded,
    /// In `DIR/KEY.seal` (KEY: [`instance_key`], the ledger's key of the instance); the PACS
    /// receives the instance as it came (for a PACS that strips private elements).
    Sidecar(PathBuf),
}

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// This gateway's AE title (the modality's called AE title).
    pub ae_title: String,
    /// Where the PACS is.
    pub destination: Destination,
    /// The spool directory.
    pub spool: PathBuf,
    /// Embedded seals or sidecars.
    pub placement: Placement,
    /// Calling AE titles accepted; empty for any.
    pub allow_calling: Vec<String>,
    /// First retry delay of the spool; doubled after each failed round up to `retry_max`.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Network timeout towards the PACS and the modality.
    pub timeout: Duration,
}

/// A running gateway's shared state.
pub struct Gateway {
    config: GatewayConfig,
    key: SigningKey,
    ledger: Mutex<Ledger>,
    spool: Spool,
    in_flight: Mutex<HashSet<String>>,
    log: Box<dyn Fn(&str) + Send + Sync>,
}

/// Accepts an association when the called AE title is the gateway's and, if a list is
/// given, the calling AE title is in it.
struct Callers {
    allowed: Vec<String>,
}

impl AccessControl for Callers {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == calling_ae_title.trim()) {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// What became of one received instance, for the log.
struct Outcome {
    status: u16,
    what: String,
    /// From the data set received to the answer, in milliseconds.
    millis: u128,
}

/// A thread's hold on one instance (see `Gateway::claim`); released when dropped.
struct Claim<'a> {
    in_flight: &'a Mutex<HashSet<String>>,
    key: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(&self.key);
        }
    }
}

/// What became of one attempt to give a pending instance to the PACS.
enum Delivery {
    /// The PACS stored it (its success or warning status).
    Stored(u16),
    /// The PACS had it already (another thread delivered it meanwhile).
    AlreadyDelivered,
    /// It was no longer pending (another thread set it aside meanwhile).
    NotPending,
    /// It stays pending: the PACS refused it with `status` (or, when `unreachable`, could not
    /// be reached, and the modality is told A700).
    Kept { status: u16, unreachable: bool },
    /// The PACS found an error in it (its status); moved to `failed/`.
    SetAside(u16),
}

impl Gateway {
    /// A gateway sealing with `key`, recording in `ledger`; `log` receives one line per
    /// instance and per notable event (never a UID or other header value).
    ///
    /// # Errors
    /// `Config` for a bad AE title, `Io` when the spool cannot be opened.
    pub fn new(
        config: GatewayConfig,
        key: SigningKey,
        ledger: Ledger,
        log: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Gateway, GatewayError> {
        crate::check_ae_title(&config.ae_title)?;
        for caller in &config.allow_calling {
            crate::check_ae_title(caller)?;
        }
        let spool = Spool::open(&config.spool)?;
        Ok(Gateway {
            config,
            key,
            ledger: Mutex::new(ledger),
            spool,
            in_flight: Mutex::new(HashSet::new()),
            log,
        })
    }

    /// Serves associations from `listener` until the process ends, one thread per
    /// association, with a background thread that re-sends the spool (at once: what a
    /// previous run left is sent first).
    ///
    /// # Errors
    /// `Io` if the listener fails.
    pub fn serve(self: Arc<Self>, listener: TcpListener) -> Result<(), GatewayError> {
        let retry = Arc::clone(&self);
        std::thread::Builder::new()
            .name("scanseal-gateway-retry".into())
            .spawn(move || retry.retry_loop())
            .map_err(|source| GatewayError::Io {
                path: self.config.spool.clone(),
                source,
            })?;
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    (self.log)(&format!("ACCEPT failed: {e}"));
                    continue;
                }
            };
            let gateway = Arc::clone(&self);
            let spawned = std::thread::Builder::new()
                .name("scanseal-gateway-association".into())
                .spawn(move || gateway.association(stream));
            if let Err(e) = spawned {
                (self.log)(&format!("ASSOCIATION refused: cannot start a thread: {e}"));
            }
        }
        Ok(())
    }

    fn association(&self, stream: TcpStream) {
        // Responses are small writes after a read: do not let them wait for a delayed ACK.
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        let mut options = ServerAssociationOptions::new()
            .ae_access_control(Callers {
                allowed: self.config.allow_calling.clone(),
            })
            .ae_title(self.config.ae_title.as_str())
            .read_timeout(self.config.timeout.max(Duration::from_secs(60)))
            .write_timeout(self.config.timeout)
            .with_abstract_syntax(VERIFICATION);
        for (uid, _) in STORAGE_SOP_CLASSES {
            options = options.with_abstract_syntax(*uid);
        }
        for (uid, _) in TRANSFER_SYNTAXES {
            options = options.with_transfer_syntax(*uid);
        }
        let mut association = match options.establish(stream) {
            Ok(association) => association,
            Err(e) => {
                (self.log)(&format!("ASSOCIATION from {peer} rejected: {e}"));
                return;
            }
        };
        let calling = association.peer_ae_title().trim().to_string();
        // Instances of this association go to the PACS on one association of the gateway's.
        let mut forwarder = Forwarder::new(
            self.config.destination.clone(),
            &self.config.ae_title,
            self.config.timeout,
        );
        let contexts: Vec<(u8, String)> = association
            .presentation_contexts()
            .iter()
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
            .collect();
        let mut command_bytes = Vec::new();
        let mut command: Option<Command> = None;
        let mut incoming: Option<(PathBuf, File)> = None;
        loop {
            let pdu = match association.receive() {
                Ok(pdu) => pdu,
                Err(e) => {
                    (self.log)(&format!("ASSOCIATION from {calling} ended: {e}"));
                    break;
                }
            };
            let values = match pdu {
                Pdu::PData { data } => data,
                Pdu::ReleaseRQ => {
                    let _ = association.send(&Pdu::ReleaseRP);
                    break;
                }
                Pdu::AbortRQ { .. } => break,
                other => {
                    (self.log)(&format!(
                        "ASSOCIATION from {calling}: unexpected {}",
                        other.short_description()
                    ));
                    let _ = association.abort();
                    return;
                }
            };
            for value in values {
                let context = value.presentation_context_id;
                let reply = match value.value_type {
                    PDataValueType::Command => {
                        command_bytes.extend_from_slice(&value.data);
                        if !value.is_last {
                            continue;
                        }
                        let parsed = Command::parse(&command_bytes);
                        command_bytes.clear();
                        match parsed {
                            Ok(parsed) if parsed.field == dimse::C_ECHO_RQ => {
                                Some((parsed, dimse::C_ECHO_RSP, status::SUCCESS))
                            }
                            Ok(parsed)
                                if parsed.field == dimse::C_STORE_RQ && parsed.has_data_set =>
                            {
                                let ts = contexts
                                    .iter()
                                    .find(|(id, _)| *id == context)
                                    .map(|(_, ts)| ts.clone())
                                    .unwrap_or_default();
                                match self.start_incoming(&parsed, &ts) {
                                    Ok(file) => {
                                        incoming = Some(file);
                                        command = Some(parsed);
                                        None
                                    }
                                    Err(e) => {
                                        (self.log)(&format!("SPOOL error: {e}"));
                                        command = Some(parsed);
                                        None
                                    }
                                }
                            }
                            Ok(parsed) => {
                                (self.log)(&format!(
                                    "COMMAND {:#06x} from {calling} not supported",
                                    parsed.field
                                ));
                                let _ = association.abort();
                                return;
                            }
                            Err(e) => {
                                (self.log)(&format!("COMMAND from {calling}: {e}"));
                                let _ = association.abort();
                                return;
                            }
                        }
                    }
                    PDataValueType::Data => {
                        let written = match &mut incoming {
                            Some((_, file)) => file.write_all(&value.data).is_ok(),
                            None => false,
                        };
                        if !written {
                            // No spool file (could not be created or written): the data is
                            // received and dropped, and the request fails below.
                            incoming = None;
                        }
                        if !value.is_last {
                            continue;
                        }
                        let Some(request) = command.take() else {
                            (self.log)(&format!("DATA from {calling} without a command"));
                            let _ = association.abort();
                            return;
                        };
                        let outcome = match incoming.take() {
                            Some((path, file)) => {
                                drop(file);
                                self.store(&request, path, &mut forwarder)
                            }
                            None => Outcome {
                                status: status::OUT_OF_RESOURCES,
                                what: "not written to the spool".into(),
                                millis: 0,
                            },
                        };
                        let key = request
                            .sop_instance
                            .as_deref()
                            .map(instance_key)
                            .unwrap_or_else(|| "-".into());
                        (self.log)(&format!(
                            "{} {key} from {calling} in {} ms: {} (status {:04X})",
                            if status::is_stored(outcome.status) {
                                "STORED"
                            } else {
                                "FAILED"
                            },
                            outcome.millis,
                            outcome.what,
                            outcome.status
                        ));
                        Some((request, dimse::C_STORE_RSP, outcome.status))
                    }
                };
                if let Some((request, field, code)) = reply {
                    let sent = dimse::response(&request, field, code).and_then(|bytes| {
                        association
                            .send(&dimse::command_pdu(context, bytes))
                            .map_err(|e| GatewayError::Protocol(e.to_string()))
                    });
                    if let Err(e) = sent {
                        (self.log)(&format!("RESPONSE to {calling} failed: {e}"));
                        return;
                    }
                }
            }
        }
        if let Some((path, _)) = incoming {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Creates the spool file for an instance being received: preamble and File Meta
    /// Information (from the command and the presentation context), the data set to follow.
    fn start_incoming(&self, command: &Command, ts: &str) -> Result<(PathBuf, File), GatewayError> {
        let instance = command.sop_instance.clone().unwrap_or_default();
        let meta = dicom_object::meta::FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(command.sop_class.as_str())
            .media_storage_sop_instance_uid(instance.as_str())
            .transfer_syntax(ts)
            .build()
            .map_err(|e| {
                GatewayError::Protocol(format!("cannot make File Meta Information: {e}"))
            })?;
        let temp = tempfile::Builder::new()
            .prefix("instance-")
            .suffix(".part")
            .tempfile_in(self.spool.incoming())
            .map_err(|source| GatewayError::Io {
                path: self.spool.incoming(),
                source,
            })?;
        let (mut file, path) = temp.keep().map_err(|e| GatewayError::Io {
            path: self.spool.incoming(),
            source: e.error,
        })?;
        let io = |source| GatewayError::Io {
            path: path.clone(),
            source,
        };
        file.write_all(&[0u8; 128]).map_err(io)?;
        file.write_all(b"DICM").map_err(io)?;
        meta.write(&mut file).map_err(|e| {
            GatewayError::Protocol(format!("cannot write File Meta Information: {e}"))
        })?;
        Ok((path, file))
    }

    /// Seals, records and forwards one received instance; the status for the modality.
    fn store(&self, command: &Command, incoming: PathBuf, forwarder: &mut Forwarder) -> Outcome {
        let started = Instant::now();
        let outcome = self.store_inner(command, &incoming, forwarder);
        let _ = std::fs::remove_file(&incoming);
        let mut outcome = outcome.unwrap_or_else(|e| Outcome {
            status: match &e {
                GatewayError::Seal(SealError::Canon(_) | SealError::Embed(_)) => {
                    status::CANNOT_UNDERSTAND
                }
                _ => status::PROCESSING_FAILURE,
            },
            what: e.to_string(),
            millis: 0,
        });
        outcome.millis = started.elapsed().as_millis();
        outcome
    }

    fn store_inner(
        &self,
        command: &Command,
        incoming: &std::path::Path,
        forwarder: &mut Forwarder,
    ) -> Result<Outcome, GatewayError> {
        let uid = command
            .sop_instance
            .as_deref()
            .ok_or_else(|| GatewayError::Protocol("C-STORE without an SOP Instance UID".into()))?;
        let key = instance_key(uid);
        // Held through the checks, the seal and the delivery: a repeat of the instance arriving
        // meanwhile (on another association) waits, then finds it delivered or pending.
        let Some(_claim) = self.claim(&key, self.config.timeout * 2) else {
            return Ok(Outcome {
                status: status::OUT_OF_RESOURCES,
                what: "another association is still storing it".into(),
                millis: 0,
            });
        };
        if self.spool.is_delivered(&key) {
            return Ok(Outcome {
                status: status::SUCCESS,
                what: "sent again; the PACS already has it".into(),
                millis: 0,
            });
        }
        let pending = self.spool.pending(&key);
        let mut what = String::from("sealed earlier");
        if self.spool.requeue_failed(&key)? {
            what = String::from("sealed earlier, set aside after a PACS error, sent again");
        } else if !pending.exists() {
            let (placement, keep_original) = match &self.config.placement {
                Placement::Embedded => (
                    scanseal_seal::Placement::Embedded {
                        output: pending.clone(),
                    },
                    false,
                ),
                Placement::Sidecar(dir) => {
                    let sidecar = dir.join(format!("{key}.seal"));
                    // A sidecar for an instance neither pending, delivered nor set aside is
                    // what a run killed after the seal and before the rename into pending/
                    // left: nothing was forwarded with it (its ledger entry stays, spec §6).
                    if sidecar.exists() {
                        std::fs::remove_file(&sidecar).map_err(|source| GatewayError::Io {
                            path: sidecar.clone(),
                            source,
                        })?;
                        (self.log)(&format!(
                            "REPLACED {key}.seal, left by a run cut short before the instance \
                             was spooled"
                        ));
                    }
                    (scanseal_seal::Placement::Sidecar { path: sidecar }, true)
                }
            };
            let mut seq = None;
            seal_file_with(
                incoming,
                &placement,
                &self.key,
                &SealOptions::new(),
                |record, canonical| {
                    let entry = NewEntry::for_sealed_instance(record, canonical)?;
                    let mut ledger = self.ledger.lock().map_err(|_| {
                        GatewayError::Protocol("the ledger connection was lost".into())
                    })?;
                    seq = Some(ledger.append(&entry)?.seq);
                    Ok::<(), GatewayError>(())
                },
            )?;
            if keep_original {
                let synced = File::open(incoming).and_then(|f| f.sync_all());
                synced
                    .and_then(|()| std::fs::rename(incoming, &pending))
                    .map_err(|source| GatewayError::Io {
                        path: pending.clone(),
                        source,
                    })?;
                scanseal_seal::sync_directory(&pending);
            }
            what = match seq {
                Some(seq) => format!("sealed, ledger entry #{seq}"),
                None => "sealed".into(),
            };
        }
        let (code, delivery) = match self.deliver_claimed(&key, forwarder)? {
            Delivery::Stored(code) => (code, "forwarded"),
            Delivery::AlreadyDelivered => (status::SUCCESS, "the PACS has it"),
            Delivery::NotPending => (status::PROCESSING_FAILURE, "lost from the spool"),
            Delivery::Kept { status, .. } => (status, "kept in the spool for retry"),
            Delivery::SetAside(code) => {
                (code, "the PACS found an error; set aside in spool/failed")
            }
        };
        Ok(Outcome {
            status: code,
            what: format!("{what}; {delivery}"),
            millis: 0,
        })
    }

    /// Claims instance `key` for the calling thread, waiting up to `wait` while another
    /// thread holds it: one thread at a time seals, sends or moves an instance.
    fn claim(&self, key: &str, wait: Duration) -> Option<Claim<'_>> {
        let deadline = Instant::now() + wait;
        loop {
            let claimed = self
                .in_flight
                .lock()
                .map(|mut set| set.insert(key.to_string()))
                .unwrap_or(false);
            if claimed {
                return Some(Claim {
                    in_flight: &self.in_flight,
                    key: key.to_string(),
                });
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends pending instance `key` (claimed by the caller) to the PACS through `forwarder`.
    fn deliver_claimed(
        &self,
        key: &str,
        forwarder: &mut Forwarder,
    ) -> Result<Delivery, GatewayError> {
        if self.spool.is_delivered(key) {
            return Ok(Delivery::AlreadyDelivered);
        }
        if !self.spool.pending(key).exists() {
            return Ok(Delivery::NotPending);
        }
        match forwarder.send(&self.spool.pending(key)) {
            Ok(code) if status::is_stored(code) => {
                self.spool.mark_delivered(key)?;
                Ok(Delivery::Stored(code))
            }
            Ok(code) if status::is_refusal(code) => {
                (self.log)(&format!(
                    "SPOOLED {key}: the PACS refused it (status {code:04X})"
                ));
                Ok(Delivery::Kept {
                    status: code,
                    unreachable: false,
                })
            }
            Ok(code) => {
                self.spool.mark_failed(key)?;
                (self.log)(&format!(
                    "SET ASIDE {key} in spool/failed: the PACS answered error {code:04X}"
                ));
                Ok(Delivery::SetAside(code))
            }
            Err(GatewayError::NotAccepted { reason, status, .. }) => {
                (self.log)(&format!("SPOOLED {key}: {reason}"));
                Ok(Delivery::Kept {
                    status,
                    unreachable: false,
                })
            }
            Err(GatewayError::Forward { reason, .. }) => {
                (self.log)(&format!("SPOOLED {key}: {reason}"));
                Ok(Delivery::Kept {
                    status: status::OUT_OF_RESOURCES,
                    unreachable: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Re-sends the spool: every pending instance in turn; after a round in which the PACS
    /// could not take one, waits twice as long (up to `retry_max`), otherwise `retry_min`.
    fn retry_loop(&self) {
        let mut delay = self.config.retry_min;
        loop {
            let mut forwarder = Forwarder::new(
                self.config.destination.clone(),
                &self.config.ae_title,
                self.config.timeout,
            );
            let mut stalled = false;
            let mut sent = BTreeSet::new();
            for key in self.spool.pending_keys() {
                // One being stored by a modality's association is that association's to send.
                let Some(_claim) = self.claim(&key, Duration::ZERO) else {
                    continue;
                };
                match self.deliver_claimed(&key, &mut forwarder) {
                    Ok(Delivery::Stored(_)) => {
                        sent.insert(key);
                    }
                    // The PACS is not there: the next instance would not get through either.
                    Ok(Delivery::Kept {
                        unreachable: true, ..
                    }) => {
                        stalled = true;
                        break;
                    }
                    // Refused for itself: the others may still go.
                    Ok(Delivery::Kept { .. }) => stalled = true,
                    Ok(
                        Delivery::SetAside(_) | Delivery::AlreadyDelivered | Delivery::NotPending,
                    ) => {}
                    Err(e) => {
                        (self.log)(&format!("RETRY {key}: {e}"));
                        stalled = true;
                        break;
                    }
                }
            }
            forwarder.close();
            for key in &sent {
                (self.log)(&format!("FORWARDED {key} from the spool"));
            }
            delay = if stalled {
                (delay * 2).min(self.config.retry_max)
            } else {
                self.config.retry_min
            };
            std::thread::sleep(delay);
        }
    }
}
