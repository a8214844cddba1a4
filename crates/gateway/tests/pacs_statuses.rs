#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What the gateway does with each kind of answer of the PACS, end to end on loopback: a
//! modality (the crate's `Forwarder`) sends synthetic CT instances to an in-process gateway,
//! which forwards them to an in-process fake PACS answering every C-STORE with a status the
//! test chooses.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dicom_core::{dicom_value, DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::server::ServerAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::Pdu;
use scanseal_fixtures::{EncodeOptions, Encoding, Fixture};
use scanseal_gateway::{
    instance_key, status, stored_instance, Command, Destination, Forwarder, Gateway, GatewayConfig,
    Placement,
};
use scanseal_keys::SigningKey;
use scanseal_ledger::Ledger;

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const VERIFICATION: &str = "1.2.840.10008.1.1";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const C_STORE_RQ: u16 = 0x0001;
const C_STORE_RSP: u16 = 0x8001;
const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const GATEWAY_AE: &str = "SCANSEAL";
const PACS_AE: &str = "PACS";
const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The fake PACS.

/// A Storage SCP on loopback answering every C-STORE-RQ, once its data set is in, with
/// `status`.
struct FakePacs {
    address: String,
    status: Arc<Mutex<u16>>,
    requests: Arc<AtomicUsize>,
    associations: Arc<AtomicUsize>,
    /// How long it takes, once a data set is in, to answer.
    delay: Arc<Mutex<Duration>>,
    /// Whether it closes the connection after each answer, without a release (as a PACS
    /// closing associations it finds idle, or restarting, does).
    hang_up: Arc<AtomicBool>,
}

impl FakePacs {
    fn start(status: u16) -> FakePacs {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let pacs = FakePacs {
            address,
            status: Arc::new(Mutex::new(status)),
            requests: Arc::new(AtomicUsize::new(0)),
            associations: Arc::new(AtomicUsize::new(0)),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            hang_up: Arc::new(AtomicBool::new(false)),
        };
        let hang_up = Arc::clone(&pacs.hang_up);
        let delay = Arc::clone(&pacs.delay);
        let status = Arc::clone(&pacs.status);
        let requests = Arc::clone(&pacs.requests);
        let associations = Arc::clone(&pacs.associations);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let status = Arc::clone(&status);
                let requests = Arc::clone(&requests);
                let associations = Arc::clone(&associations);
                let delay = Arc::clone(&delay);
                let hang_up = Arc::clone(&hang_up);
                std::thread::spawn(move || {
                    serve_pacs_association(
                        stream,
                        &status,
                        &requests,
                        &associations,
                        &delay,
                        &hang_up,
                    );
                });
            }
        });
        pacs
    }

    fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    fn hang_up_after_each_answer(&self) {
        self.hang_up.store(true, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn associations(&self) -> usize {
        self.associations.load(Ordering::SeqCst)
    }

    fn destination(&self) -> Destination {
        Destination {
            ae_title: PACS_AE.into(),
            address: self.address.clone(),
        }
    }
}

fn serve_pacs_association(
    stream: TcpStream,
    status: &Mutex<u16>,
    requests: &AtomicUsize,
    associations: &AtomicUsize,
    delay: &Mutex<Duration>,
    hang_up: &AtomicBool,
) {
    let options = ServerAssociationOptions::new()
        .accept_any()
        .ae_title(PACS_AE)
        .promiscuous(true)
        .with_abstract_syntax(CT_IMAGE_STORAGE)
        .with_abstract_syntax(VERIFICATION)
        .with_transfer_syntax(EXPLICIT_VR_LE)
        .with_transfer_syntax(IMPLICIT_VR_LE)
        .read_timeout(Duration::from_secs(30))
        .write_timeout(TIMEOUT);
    let Ok(mut association) = options.establish(stream) else {
        return;
    };
    associations.fetch_add(1, Ordering::SeqCst);
    let mut command_bytes = Vec::new();
    let mut command: Option<Command> = None;
    let mut data_bytes = 0usize;
    loop {
        let values = match association.receive() {
            Ok(Pdu::PData { data }) => data,
            Ok(Pdu::ReleaseRQ) => {
                let _ = association.send(&Pdu::ReleaseRP);
                return;
            }
            Ok(_) | Err(_) => return,
        };
        for value in values {
            let context = value.presentation_context_id;
            match value.value_type {
                PDataValueType::Command => {
                    command_bytes.extend_from_slice(&value.data);
                    if !value.is_last {
                        continue;
                    }
                    let parsed = Command::parse(&command_bytes).unwrap();
                    command_bytes.clear();
                    match parsed.field {
                        C_ECHO_RQ => {
                            let reply = response(&parsed, C_ECHO_RSP, status::SUCCESS);
                            if association.send(&command_pdu(context, reply)).is_err() {
                                return;
                            }
                        }
                        C_STORE_RQ => {
                            assert!(parsed.has_data_set, "a C-STORE-RQ without a data set");
                            data_bytes = 0;
                            command = Some(parsed);
                        }
                        other => panic!("the fake PACS got command {other:#06x}"),
                    }
                }
                PDataValueType::Data => {
                    data_bytes += value.data.len();
                    if !value.is_last {
                        continue;
                    }
                    let request = command.take().expect("a data set without a command");
                    assert!(data_bytes > 1000, "a data set of only {data_bytes} bytes");
                    requests.fetch_add(1, Ordering::SeqCst);
                    let pause = *delay.lock().unwrap();
                    std::thread::sleep(pause);
                    let code = *status.lock().unwrap();
                    let reply = response(&request, C_STORE_RSP, code);
                    if association.send(&command_pdu(context, reply)).is_err()
                        || hang_up.load(Ordering::SeqCst)
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// A response command set to `request`, in Implicit VR Little Endian.
fn response(request: &Command, field: u16, code: u16) -> Vec<u8> {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(request.sop_class.as_str()),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [field])),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            dicom_value!(U16, [request.message_id]),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0101]),
        ),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [code])),
    ];
    if let Some(instance) = &request.sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance.as_str()),
        ));
    }
    let object = InMemDicomObject::command_from_element_iter(elements);
    let implicit = TransferSyntaxRegistry.get(IMPLICIT_VR_LE).unwrap();
    let mut bytes = Vec::new();
    object.write_dataset_with_ts(&mut bytes, implicit).unwrap();
    bytes
}

fn command_pdu(context: u8, bytes: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context,
            value_type: PDataValueType::Command,
            is_last: true,
            data: bytes,
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway.

/// An in-process gateway with its spool, ledger and log, serving on loopback.
struct TestGateway {
    _dir: tempfile::TempDir,
    address: String,
    spool: PathBuf,
    ledger: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestGateway {
    /// A gateway forwarding to `destination`, re-sending its spool after `retry_min`
    /// (doubled up to twice that).
    fn start(destination: Destination, retry_min: Duration) -> TestGateway {
        TestGateway::start_with(destination, retry_min, None)
    }

    /// As `start`, writing sidecars to `sidecar_dir` when given.
    fn start_with(
        destination: Destination,
        retry_min: Duration,
        sidecar_dir: Option<PathBuf>,
    ) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let ledger_path = dir.path().join("ledger.db");
        let ledger = Ledger::create(&ledger_path, &scanseal_ledger::default_origin()).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let config = GatewayConfig {
            ae_title: GATEWAY_AE.into(),
            destination,
            spool: spool.clone(),
            placement: sidecar_dir.map_or(Placement::Embedded, Placement::Sidecar),
            allow_calling: Vec::new(),
            retry_min,
            retry_max: retry_min * 2,
            timeout: TIMEOUT,
        };
        let gateway = Gateway::new(
            config,
            SigningKey::generate(),
            ledger,
            Box::new(move |line: &str| sink.lock().unwrap().push(line.to_string())),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || Arc::new(gateway).serve(listener));
        TestGateway {
            _dir: dir,
            address,
            spool,
            ledger: ledger_path,
            log,
        }
    }

    /// The modality's side: a forwarder (one association, kept open) to the gateway.
    fn modality(&self) -> Forwarder {
        Forwarder::new(
            Destination {
                ae_title: GATEWAY_AE.into(),
                address: self.address.clone(),
            },
            "MODALITY",
            TIMEOUT,
        )
    }

    fn ledger_size(&self) -> u64 {
        Ledger::open_read_only(&self.ledger)
            .unwrap()
            .size()
            .unwrap()
    }

    fn files(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.spool.join(sub))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn pending(&self, key: &str) -> PathBuf {
        self.spool.join("pending").join(format!("{key}.dcm"))
    }

    fn failed(&self, key: &str) -> PathBuf {
        self.spool.join("failed").join(format!("{key}.dcm"))
    }

    fn delivered(&self, key: &str) -> PathBuf {
        self.spool.join("delivered").join(key)
    }

    fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn logged(&self, what: impl Fn(&str) -> bool) -> bool {
        self.log.lock().unwrap().iter().any(|line| what(line))
    }
}

/// A synthetic CT slice (Explicit VR Little Endian, its own SOP Instance UID from `seed`)
/// written in `dir`, and its spool key.
fn ct_instance(dir: &Path, seed: u64) -> (PathBuf, String) {
    let bytes = Fixture::ct_slice(seed)
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let path = dir.join(format!("ct-{seed}.dcm"));
    std::fs::write(&path, bytes).unwrap();
    let uid = stored_instance(&path).unwrap().sop_instance;
    (path, instance_key(&uid))
}

/// Polls `condition` every 20 ms until it holds or `limit` has passed: whether it held.
fn wait_for(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Retry delays short enough to see the retry thread at work.
const FAST_RETRY: Duration = Duration::from_millis(200);
/// Retry delays long enough that the retry thread never runs during a test (it runs once at
/// start, on an empty spool).
const NO_RETRY: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// The cases.

#[test]
fn success_is_delivered_once_and_a_repeat_is_not_sealed_or_sent_again() {
    let pacs = FakePacs::start(status::SUCCESS);
    let gateway = TestGateway::start(pacs.destination(), FAST_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 1);
    let mut modality = gateway.modality();

    assert_eq!(modality.send(&path).unwrap(), status::SUCCESS);
    assert!(
        gateway.delivered(&key).is_file(),
        "{:?}",
        gateway.log_lines()
    );
    assert_eq!(gateway.files("delivered"), std::slice::from_ref(&key));
    assert!(gateway.files("pending").is_empty());
    assert!(gateway.files("failed").is_empty());
    assert_eq!(gateway.ledger_size(), 1);
    assert_eq!(pacs.requests(), 1);
    assert!(gateway.logged(|l| l.starts_with(&format!("STORED {key} from MODALITY"))));

    // The modality sends it again (it did not get the answer, say).
    assert_eq!(modality.send(&path).unwrap(), status::SUCCESS);
    assert_eq!(gateway.ledger_size(), 1, "sealed a second time");
    assert_eq!(pacs.requests(), 1, "sent to the PACS a second time");
    assert!(gateway.files("pending").is_empty());
    assert!(gateway.delivered(&key).is_file());
    modality.close();
}

#[test]
fn an_error_status_sets_the_instance_aside_until_the_modality_sends_it_again() {
    const DATA_SET_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
    let pacs = FakePacs::start(DATA_SET_DOES_NOT_MATCH_SOP_CLASS);
    let gateway = TestGateway::start(pacs.destination(), FAST_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 2);
    let mut modality = gateway.modality();

    assert_eq!(
        modality.send(&path).unwrap(),
        DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    );
    assert!(gateway.failed(&key).is_file(), "{:?}", gateway.log_lines());
    assert!(!gateway.pending(&key).exists());
    assert!(gateway.files("pending").is_empty());
    assert!(!gateway.delivered(&key).exists());
    assert_eq!(gateway.ledger_size(), 1);
    assert_eq!(pacs.requests(), 1);
    assert!(
        gateway.logged(|l| l.starts_with(&format!("SET ASIDE {key}"))),
        "{:?}",
        gateway.log_lines()
    );
    assert!(gateway
        .logged(|l| l.starts_with(&format!("FAILED {key} from MODALITY"))
            && l.ends_with("(status A900)")));

    // The retry thread (every 200-400 ms) leaves it alone.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(pacs.requests(), 1, "the set-aside instance was re-sent");
    assert!(gateway.failed(&key).is_file());

    // The PACS is fixed; the modality sends the instance again.
    pacs.set_status(status::SUCCESS);
    assert_eq!(modality.send(&path).unwrap(), status::SUCCESS);
    assert_eq!(pacs.requests(), 2);
    assert!(gateway.files("failed").is_empty());
    assert!(gateway.files("pending").is_empty());
    assert!(gateway.delivered(&key).is_file());
    assert_eq!(gateway.ledger_size(), 1, "sealed a second time");
    modality.close();
}

#[test]
fn a_refusal_keeps_the_instance_pending_and_the_retry_thread_delivers_it() {
    const OUT_OF_RESOURCES_TOO_LARGE: u16 = 0xA701;
    let pacs = FakePacs::start(OUT_OF_RESOURCES_TOO_LARGE);
    let gateway = TestGateway::start(pacs.destination(), FAST_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 3);
    let mut modality = gateway.modality();

    assert_eq!(modality.send(&path).unwrap(), OUT_OF_RESOURCES_TOO_LARGE);
    modality.close();
    assert!(gateway.pending(&key).is_file(), "{:?}", gateway.log_lines());
    assert!(gateway.files("failed").is_empty());
    assert!(!gateway.delivered(&key).exists());
    assert_eq!(gateway.ledger_size(), 1);
    assert!(pacs.requests() >= 1);
    assert!(
        gateway.logged(|l| l.starts_with(&format!("SPOOLED {key}")) && l.contains("A701")),
        "{:?}",
        gateway.log_lines()
    );

    // Still refused: the retry thread tries again and keeps it.
    let tried = pacs.requests();
    assert!(
        wait_for(Duration::from_secs(3), || pacs.requests() > tried),
        "the retry thread did not re-send a refused instance"
    );
    assert!(gateway.pending(&key).is_file());

    pacs.set_status(status::SUCCESS);
    assert!(
        wait_for(Duration::from_secs(5), || gateway.delivered(&key).is_file()),
        "not delivered from the spool: {:?}",
        gateway.log_lines()
    );
    assert!(wait_for(Duration::from_secs(2), || gateway
        .logged(|l| l == format!("FORWARDED {key} from the spool"))));
    assert!(gateway.files("pending").is_empty());
    assert!(gateway.files("failed").is_empty());
    assert_eq!(gateway.ledger_size(), 1);
}

#[test]
fn an_unreachable_pacs_is_out_of_resources_and_the_instance_stays_pending() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let gateway = TestGateway::start(
        Destination {
            ae_title: PACS_AE.into(),
            address,
        },
        FAST_RETRY,
    );
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 4);
    let mut modality = gateway.modality();

    assert_eq!(modality.send(&path).unwrap(), status::OUT_OF_RESOURCES);
    modality.close();
    assert!(gateway.pending(&key).is_file(), "{:?}", gateway.log_lines());
    assert_eq!(gateway.files("pending"), [format!("{key}.dcm")]);
    assert!(gateway.files("failed").is_empty());
    assert!(gateway.files("delivered").is_empty());
    assert_eq!(gateway.ledger_size(), 1);
    assert!(gateway.logged(|l| l.starts_with(&format!("SPOOLED {key}"))));
    assert!(gateway
        .logged(|l| l.starts_with(&format!("FAILED {key} from MODALITY"))
            && l.ends_with("(status A700)")));
}

#[test]
fn instances_of_one_modality_association_reach_the_pacs_on_one_association() {
    let pacs = FakePacs::start(status::SUCCESS);
    // The retry thread must not open an association of its own meanwhile.
    let gateway = TestGateway::start(pacs.destination(), NO_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let (first, first_key) = ct_instance(inputs.path(), 5);
    let (second, second_key) = ct_instance(inputs.path(), 6);
    assert_ne!(first_key, second_key);
    let mut modality = gateway.modality();

    assert_eq!(modality.send(&first).unwrap(), status::SUCCESS);
    assert_eq!(modality.send(&second).unwrap(), status::SUCCESS);
    assert_eq!(pacs.requests(), 2);
    assert_eq!(pacs.associations(), 1);
    assert!(gateway.delivered(&first_key).is_file());
    assert!(gateway.delivered(&second_key).is_file());
    assert_eq!(gateway.ledger_size(), 2);
    modality.close();

    // A new modality association makes a new one towards the PACS.
    let (third, third_key) = ct_instance(inputs.path(), 7);
    let mut modality = gateway.modality();
    assert_eq!(modality.send(&third).unwrap(), status::SUCCESS);
    modality.close();
    assert!(gateway.delivered(&third_key).is_file());
    assert_eq!(pacs.requests(), 3);
    assert_eq!(pacs.associations(), 2);
}

#[test]
fn an_association_the_pacs_dropped_between_instances_is_replaced_and_the_instance_sent() {
    let pacs = FakePacs::start(status::SUCCESS);
    pacs.hang_up_after_each_answer();
    let gateway = TestGateway::start(pacs.destination(), NO_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let mut modality = gateway.modality();
    for seed in 40..43 {
        let (path, key) = ct_instance(inputs.path(), seed);
        assert_eq!(
            modality.send(&path).unwrap(),
            status::SUCCESS,
            "{:?}",
            gateway.log_lines()
        );
        assert!(gateway.delivered(&key).is_file());
    }
    modality.close();
    // Each instance after the first found the gateway's association gone and went on a new one.
    assert_eq!(pacs.requests(), 3);
    assert_eq!(pacs.associations(), 3);
    assert_eq!(gateway.ledger_size(), 3);
    assert!(gateway.files("pending").is_empty());
}

#[test]
fn a_sidecar_left_by_a_run_cut_short_is_replaced_not_an_obstacle() {
    let pacs = FakePacs::start(status::SUCCESS);
    let sidecars = tempfile::tempdir().unwrap();
    let gateway = TestGateway::start_with(
        pacs.destination(),
        NO_RETRY,
        Some(sidecars.path().to_path_buf()),
    );
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 50);
    // What a gateway killed between writing the sidecar and spooling the instance leaves.
    let sidecar = sidecars.path().join(format!("{key}.seal"));
    std::fs::write(&sidecar, b"left by a run cut short").unwrap();
    let mut modality = gateway.modality();
    assert_eq!(
        modality.send(&path).unwrap(),
        status::SUCCESS,
        "{:?}",
        gateway.log_lines()
    );
    modality.close();
    assert!(gateway.logged(|l| l.starts_with(&format!("REPLACED {key}.seal"))));
    let chain = std::fs::read(&sidecar).unwrap();
    assert!(scanseal_seal::SealChain::from_cbor(&chain).is_ok());
    assert!(gateway.delivered(&key).is_file());
    assert_eq!(gateway.ledger_size(), 1);
}

#[test]
fn the_fake_pacs_answers_with_the_status_it_is_given() {
    // The test's own peer, checked directly: the crate's forwarder to the fake PACS.
    let pacs = FakePacs::start(0xC123);
    let inputs = tempfile::tempdir().unwrap();
    let (path, _) = ct_instance(inputs.path(), 8);
    let mut forwarder = Forwarder::new(pacs.destination(), "PROBE", TIMEOUT);
    assert_eq!(forwarder.send(&path).unwrap(), 0xC123);
    pacs.set_status(0xB000);
    assert_eq!(forwarder.send(&path).unwrap(), 0xB000);
    forwarder.close();
    assert_eq!(pacs.requests(), 2);
    assert_eq!(pacs.associations(), 1);
}

// ---------------------------------------------------------------------------------------------
// The same instance arriving on two modality associations at once (both were bugs: a repeat
// answered 0110, and two seals of one instance).

#[test]
fn a_repeat_arriving_while_the_instance_is_set_aside_is_not_a_processing_failure() {
    const DATA_SET_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
    let pacs = FakePacs::start(DATA_SET_DOES_NOT_MATCH_SOP_CLASS);
    pacs.set_delay(Duration::from_secs(1));
    let gateway = TestGateway::start(pacs.destination(), FAST_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    let (path, key) = ct_instance(inputs.path(), 20);

    let first_path = path.clone();
    let mut first_modality = gateway.modality();
    let first = std::thread::spawn(move || first_modality.send(&first_path).unwrap());
    // The first is sealed and on its way to the (slow) PACS when the repeat arrives.
    assert!(wait_for(Duration::from_secs(3), || gateway
        .pending(&key)
        .is_file()));
    let mut second_modality = gateway.modality();
    let second = second_modality.send(&path).unwrap();
    assert_eq!(first.join().unwrap(), DATA_SET_DOES_NOT_MATCH_SOP_CLASS);

    assert_eq!(gateway.ledger_size(), 1);
    assert_ne!(
        second,
        status::PROCESSING_FAILURE,
        "{:?}",
        gateway.log_lines()
    );
    assert!(
        !gateway.logged(|l| l.starts_with("RETRY")),
        "{:?}",
        gateway.log_lines()
    );
}

#[test]
fn simultaneous_repeats_of_one_instance_make_one_seal() {
    let pacs = FakePacs::start(status::SUCCESS);
    let gateway = TestGateway::start(pacs.destination(), NO_RETRY);
    let inputs = tempfile::tempdir().unwrap();
    for seed in 30..35 {
        let (path, key) = ct_instance(inputs.path(), seed);
        let before = gateway.ledger_size();
        let start = Arc::new(std::sync::Barrier::new(2));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let path = path.clone();
                let start = Arc::clone(&start);
                let mut modality = gateway.modality();
                std::thread::spawn(move || {
                    start.wait();
                    let answer = modality.send(&path).unwrap();
                    modality.close();
                    answer
                })
            })
            .collect();
        let answers: Vec<u16> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        assert_eq!(
            answers,
            [status::SUCCESS, status::SUCCESS],
            "{:?}",
            gateway.log_lines()
        );
        assert_eq!(gateway.ledger_size() - before, 1, "sealed twice");
        assert!(gateway.delivered(&key).is_file());
    }
}
