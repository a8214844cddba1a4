#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The embedded seal block (`scanseal_seal::embed`) on synthetic files in every encoding the
//! fixture builder writes, with defined and undefined sequence lengths, and on malformed input.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use scanseal_canon::{canonicalize, CanonOptions, Canonical, DicomInstance, SEAL_PRIVATE_CREATOR};
use scanseal_fixtures::{
    Element, EncodeOptions, Encoding, Fixture, SequenceLength, Tag, Value, VR,
};
use scanseal_seal::embed::{
    find_seal_blocks, scan_seal_blocks, write_with_chain, write_without_seal_blocks,
    DataSetEncoding, EmbedAction, EmbedError, EmbedSummary, OffsetBase, RemovalSummary, Splice,
    CHAIN_ELEMENT_OFFSET, MAX_CHAIN_LEN, MAX_NESTING, SEAL_GROUP,
};

const SEQUENCE_LENGTHS: [SequenceLength; 2] = [SequenceLength::Undefined, SequenceLength::Defined];

fn options(sequence_length: SequenceLength) -> EncodeOptions {
    EncodeOptions {
        sequence_length,
        ..EncodeOptions::default()
    }
}

fn stock_fixtures() -> Vec<(&'static str, Fixture)> {
    vec![
        ("ct", Fixture::ct_slice(3)),
        ("mr", Fixture::mr_multiframe(3, 5)),
        ("rgb", Fixture::rgb(7)),
        ("sr", Fixture::structured_report()),
    ]
}

/// A deterministic "chain" of `len` bytes.
fn chain(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn padded(chain: &[u8]) -> Vec<u8> {
    let mut v = chain.to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn seal(input: &[u8], chain: &[u8]) -> (Vec<u8>, EmbedSummary) {
    let mut out = Vec::new();
    let summary = write_with_chain(&mut Cursor::new(input), &mut out, chain)
        .unwrap_or_else(|e| panic!("write_with_chain: {e}"));
    (out, summary)
}

fn unseal(input: &[u8]) -> (Vec<u8>, RemovalSummary) {
    let mut out = Vec::new();
    let summary = write_without_seal_blocks(&mut Cursor::new(input), &mut out)
        .unwrap_or_else(|e| panic!("write_without_seal_blocks: {e}"));
    (out, summary)
}

fn canonical(bytes: &[u8]) -> Canonical {
    let instance = DicomInstance::from_bytes(bytes).unwrap_or_else(|e| panic!("read: {e}"));
    canonicalize(&instance, &CanonOptions::new()).unwrap_or_else(|e| panic!("canonicalize: {e}"))
}

/// The bytes the splices apply to: the file, or for deflated files the inflated data set.
fn spliced_bytes(file: &[u8]) -> Vec<u8> {
    let scan = scan_seal_blocks(&mut Cursor::new(file)).unwrap();
    let start = usize::try_from(scan.data_set_start).unwrap();
    if scan.encoding.is_deflated() {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(&file[start..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(scan.data_set_len, inflated.len() as u64);
        inflated
    } else {
        assert_eq!(scan.data_set_len, (file.len() - start) as u64);
        file.to_vec()
    }
}

/// `output` with each splice's inserted bytes replaced by the input bytes it removed, taken
/// from `input`: must give back `input`.
fn undo_splices(output: &[u8], input: &[u8], splices: &[Splice]) -> Vec<u8> {
    let mut result = Vec::new();
    let mut out_pos = 0usize;
    for s in splices {
        let at = usize::try_from(s.output_offset).unwrap();
        result.extend_from_slice(&output[out_pos..at]);
        let from = usize::try_from(s.input_offset).unwrap();
        let removed = usize::try_from(s.removed).unwrap();
        result.extend_from_slice(&input[from..from + removed]);
        out_pos = at + usize::try_from(s.inserted).unwrap();
    }
    result.extend_from_slice(&output[out_pos..]);
    result
}

fn data_set_start(file: &[u8]) -> usize {
    usize::try_from(
        scan_seal_blocks(&mut Cursor::new(file))
            .unwrap()
            .data_set_start,
    )
    .unwrap()
}

/// Checks that `output` is `input` with only `splices` applied (in the inflated data set for
/// deflated files, whose File Meta must be unchanged byte for byte).
fn assert_only_spliced(input: &[u8], output: &[u8], splices: &[Splice], label: &str) {
    let start = data_set_start(input);
    assert_eq!(
        &output[..start],
        &input[..start],
        "{label}: preamble and File Meta changed"
    );
    let (i, o) = (spliced_bytes(input), spliced_bytes(output));
    assert_eq!(
        undo_splices(&o, &i, splices),
        i,
        "{label}: bytes outside the splices changed"
    );
}

/// Bytes of the two seal elements for a chain of `len` bytes.
fn block_len(encoding: Encoding, chain_len: usize) -> u64 {
    let value = chain_len + chain_len % 2;
    let (creator_header, chain_header) = match encoding {
        Encoding::ImplicitVrLittleEndian => (8, 8),
        _ => (8, 12),
    };
    (creator_header + SEAL_PRIVATE_CREATOR.len() + chain_header + value) as u64
}

#[test]
fn insert_find_replace_remove_in_every_encoding() {
    for (name, fixture) in stock_fixtures() {
        for encoding in Encoding::ALL {
            for sequence_length in SEQUENCE_LENGTHS {
                for (chain_len, seed) in [(101usize, 1u8), (64, 2)] {
                    let label =
                        format!("{name} {encoding:?} {sequence_length:?} chain {chain_len}");
                    let input = fixture.encode(encoding, &options(sequence_length)).unwrap();
                    let deflated = encoding == Encoding::DeflatedExplicitVrLittleEndian;
                    assert!(find_seal_blocks(&mut Cursor::new(&input))
                        .unwrap()
                        .is_empty());

                    // Insert.
                    let first = chain(chain_len, seed);
                    let (sealed, summary) = seal(&input, &first);
                    assert_eq!(summary.action, EmbedAction::InsertedBlock, "{label}");
                    assert_eq!(
                        (summary.group, summary.block),
                        (SEAL_GROUP, 0x10),
                        "{label}"
                    );
                    assert_eq!(summary.removed, 0, "{label}");
                    assert_eq!(summary.inserted, block_len(encoding, chain_len), "{label}");
                    assert_eq!(
                        summary.offset_base,
                        if deflated {
                            OffsetBase::InflatedDataSet
                        } else {
                            OffsetBase::File
                        }
                    );
                    if !deflated {
                        assert_eq!(
                            sealed.len() as u64,
                            input.len() as u64 + summary.inserted,
                            "{label}"
                        );
                        // Nearly every file: an append.
                        assert_eq!(summary.splices[0].input_offset, input.len() as u64);
                    } else {
                        assert_eq!(sealed.len() % 2, 0, "{label}: deflated stream not padded");
                    }
                    assert_only_spliced(&input, &sealed, &summary.splices, &label);

                    // Find.
                    let blocks = find_seal_blocks(&mut Cursor::new(&sealed)).unwrap();
                    assert_eq!(blocks.len(), 1, "{label}");
                    let block = &blocks[0];
                    assert_eq!((block.group, block.block), (SEAL_GROUP, 0x10), "{label}");
                    assert_eq!(block.chain, padded(&first), "{label}");
                    assert!(block.is_well_formed(), "{label}");

                    // The canonicalizer reads the sealed file and ignores the block.
                    assert_eq!(
                        canonical(&sealed),
                        canonical(&input),
                        "{label}: canonical form"
                    );

                    // Replace.
                    let second = chain(chain_len + 7, seed + 10);
                    let (resealed, summary2) = seal(&sealed, &second);
                    assert_eq!(summary2.action, EmbedAction::ReplacedChain, "{label}");
                    assert_eq!((summary2.group, summary2.block), (SEAL_GROUP, 0x10));
                    assert_eq!(summary2.splices.len(), 1, "{label}");
                    assert_only_spliced(&sealed, &resealed, &summary2.splices, &label);
                    let blocks2 = find_seal_blocks(&mut Cursor::new(&resealed)).unwrap();
                    assert_eq!(blocks2.len(), 1, "{label}");
                    assert_eq!(blocks2[0].chain, padded(&second), "{label}");
                    assert_eq!(blocks2[0].creator, block.creator, "{label}: creator moved");
                    assert_eq!(canonical(&resealed), canonical(&input), "{label}");

                    // Remove.
                    for file in [&sealed, &resealed] {
                        let (unsealed, removal) = unseal(file);
                        assert_eq!(removal.blocks, vec![(SEAL_GROUP, 0x10)], "{label}");
                        if deflated {
                            assert_eq!(spliced_bytes(&unsealed), spliced_bytes(&input), "{label}");
                            let start = data_set_start(&input);
                            assert_eq!(&unsealed[..start], &input[..start], "{label}");
                        } else {
                            assert_eq!(unsealed, input, "{label}: unsealed != original");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn files_without_preamble_are_sealed_too() {
    for encoding in Encoding::ALL {
        let input = Fixture::ct_slice(11)
            .encode(
                encoding,
                &EncodeOptions {
                    preamble: false,
                    ..EncodeOptions::default()
                },
            )
            .unwrap();
        assert_eq!(&input[..4], b"DICM");
        let (sealed, summary) = seal(&input, b"chain");
        assert_only_spliced(&input, &sealed, &summary.splices, &format!("{encoding:?}"));
        assert_eq!(canonical(&sealed), canonical(&input));
        let blocks = find_seal_blocks(&mut Cursor::new(&sealed)).unwrap();
        assert_eq!(blocks[0].chain, b"chain\0");
    }
}

#[test]
fn element_bytes_in_each_encoding() {
    let chain = b"abc";
    let cases: [(Encoding, &[u8], &[u8]); 3] = [
        (
            Encoding::ExplicitVrLittleEndian,
            b"\xF1\x7F\x10\x00LO\x0A\x00SCANSEAL 1",
            b"\xF1\x7F\x01\x10OB\x00\x00\x04\x00\x00\x00abc\x00",
        ),
        (
            Encoding::ImplicitVrLittleEndian,
            b"\xF1\x7F\x10\x00\x0A\x00\x00\x00SCANSEAL 1",
            b"\xF1\x7F\x01\x10\x04\x00\x00\x00abc\x00",
        ),
        (
            Encoding::ExplicitVrBigEndian,
            b"\x7F\xF1\x00\x10LO\x00\x0ASCANSEAL 1",
            b"\x7F\xF1\x10\x01OB\x00\x00\x00\x00\x00\x04abc\x00",
        ),
    ];
    for (encoding, creator, chain_element) in cases {
        let input = Fixture::ct_slice(1)
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        let (sealed, summary) = seal(&input, chain);
        let mut expected = input.clone();
        expected.extend_from_slice(creator);
        expected.extend_from_slice(chain_element);
        assert_eq!(sealed, expected, "{encoding:?}");
        assert_eq!(summary.splices.len(), 1);
    }
}

#[test]
fn block_0x10_of_another_vendor_is_kept_and_0x11_used() {
    for encoding in Encoding::ALL {
        for sequence_length in SEQUENCE_LENGTHS {
            let label = format!("{encoding:?} {sequence_length:?}");
            let mut fixture = Fixture::ct_slice(4);
            fixture
                .add_private(SEAL_GROUP, "OTHER VENDOR", 0x01, VR::LO, "kept one")
                .unwrap();
            fixture
                .add_private(SEAL_GROUP, "OTHER VENDOR", 0x02, VR::OB, vec![9u8; 6])
                .unwrap();
            assert_eq!(
                fixture.private_block(SEAL_GROUP, "OTHER VENDOR"),
                Some(0x10)
            );
            let input = fixture.encode(encoding, &options(sequence_length)).unwrap();
            let (sealed, summary) = seal(&input, b"0123456789");
            assert_eq!(
                (summary.group, summary.block),
                (SEAL_GROUP, 0x11),
                "{label}"
            );
            // (7FF1,0011) goes between (7FF1,0010) and (7FF1,1001); (7FF1,1101) at the end.
            assert_eq!(summary.splices.len(), 2, "{label}");
            assert_only_spliced(&input, &sealed, &summary.splices, &label);
            let blocks = find_seal_blocks(&mut Cursor::new(&sealed)).unwrap();
            assert_eq!(blocks.len(), 1);
            assert_eq!((blocks[0].group, blocks[0].block), (SEAL_GROUP, 0x11));
            assert_eq!(blocks[0].chain, b"0123456789");
            // The other vendor's elements are still canonical attributes.
            assert_eq!(canonical(&sealed), canonical(&input), "{label}");
            let (unsealed, _) = unseal(&sealed);
            assert_eq!(spliced_bytes(&unsealed), spliced_bytes(&input), "{label}");
        }
    }
}

#[test]
fn a_block_with_orphan_elements_is_not_free() {
    let mut fixture = Fixture::ct_slice(4);
    // (7FF1,1005) without a creator: block 0x10 must not be reused (it would adopt the orphan).
    fixture.set_attribute(Tag(SEAL_GROUP, 0x1005), VR::LO, "orphan");
    for encoding in Encoding::ALL {
        let input = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let (sealed, summary) = seal(&input, b"xy");
        assert_eq!(summary.block, 0x11, "{encoding:?}");
        assert_eq!(canonical(&sealed), canonical(&input), "{encoding:?}");
    }
}

#[test]
fn trailing_padding_and_digital_signatures_stay_after_the_block() {
    let mut fixture = Fixture::ct_slice(8);
    fixture.insert_attribute(Element::sequence(
        Tag(0xFFFA, 0xFFFA),
        vec![vec![Element::text(Tag(0x0400, 0x0015), VR::CS, "SHA256")]],
    ));
    fixture.set_attribute(Tag(0xFFFC, 0xFFFC), VR::OB, vec![0u8; 16]);
    for encoding in Encoding::ALL {
        for sequence_length in SEQUENCE_LENGTHS {
            let label = format!("{encoding:?} {sequence_length:?}");
            let input = fixture.encode(encoding, &options(sequence_length)).unwrap();
            let (sealed, summary) = seal(&input, b"chain!");
            assert_eq!(summary.splices.len(), 1, "{label}");
            assert_only_spliced(&input, &sealed, &summary.splices, &label);
            let data = spliced_bytes(&sealed);
            let after =
                usize::try_from(summary.splices[0].output_offset + summary.inserted).unwrap();
            let fffa: &[u8] = if encoding == Encoding::ExplicitVrBigEndian {
                b"\xFF\xFA\xFF\xFA"
            } else {
                b"\xFA\xFF\xFA\xFF"
            };
            assert_eq!(
                &data[after..after + 4],
                fffa,
                "{label}: not inserted before (FFFA,FFFA)"
            );
            assert!(summary.splices[0].input_offset < spliced_bytes(&input).len() as u64);
            assert_eq!(canonical(&sealed), canonical(&input), "{label}");
            assert_eq!(
                find_seal_blocks(&mut Cursor::new(&sealed)).unwrap().len(),
                1
            );
        }
    }
    // Padding alone.
    let mut fixture = Fixture::rgb(2);
    fixture.set_attribute(Tag(0xFFFC, 0xFFFC), VR::OB, vec![0u8; 4]);
    let input = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let (sealed, summary) = seal(&input, b"c");
    let at = usize::try_from(summary.splices[0].output_offset + summary.inserted).unwrap();
    assert_eq!(&sealed[at..at + 4], b"\xFC\xFF\xFC\xFF");
    assert_eq!(
        sealed.len(),
        input.len() + usize::try_from(summary.inserted).unwrap()
    );
}

/// A fixture that already carries a seal block written by someone else.
fn with_block(group: u16, chain: &[u8]) -> Fixture {
    let mut fixture = Fixture::ct_slice(21);
    fixture
        .add_private(
            group,
            SEAL_PRIVATE_CREATOR,
            CHAIN_ELEMENT_OFFSET,
            VR::OB,
            chain.to_vec(),
        )
        .unwrap();
    fixture
}

#[test]
fn an_existing_block_in_another_group_is_replaced_in_place() {
    for encoding in Encoding::ALL {
        let input = with_block(0x0011, b"old chain")
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        let blocks = find_seal_blocks(&mut Cursor::new(&input)).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!((blocks[0].group, blocks[0].block), (0x0011, 0x10));
        assert_eq!(blocks[0].chain, b"old chain\0");
        let (sealed, summary) = seal(&input, b"new");
        assert_eq!(summary.action, EmbedAction::ReplacedChain);
        assert_eq!((summary.group, summary.block), (0x0011, 0x10));
        assert_only_spliced(&input, &sealed, &summary.splices, &format!("{encoding:?}"));
        let blocks = find_seal_blocks(&mut Cursor::new(&sealed)).unwrap();
        assert_eq!(blocks[0].chain, b"new\0");
        assert_eq!(canonical(&sealed), canonical(&input));
        // Removing gives the file without the block.
        let (unsealed, _) = unseal(&sealed);
        let plain = Fixture::ct_slice(21)
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        assert_eq!(
            spliced_bytes(&unsealed),
            spliced_bytes(&plain),
            "{encoding:?}"
        );
    }
}

#[test]
fn a_block_without_chain_element_gets_one() {
    let mut fixture = Fixture::ct_slice(5);
    fixture.set_attribute(Tag(SEAL_GROUP, 0x0010), VR::LO, SEAL_PRIVATE_CREATOR);
    for encoding in Encoding::ALL {
        let input = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let blocks = find_seal_blocks(&mut Cursor::new(&input)).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].chain_element.is_none() && blocks[0].chain.is_empty());
        assert!(!blocks[0].is_well_formed());
        let (sealed, summary) = seal(&input, b"abcd");
        assert_eq!(summary.action, EmbedAction::InsertedChain);
        // Same bytes as sealing the file that never had the creator.
        let bare = Fixture::ct_slice(5)
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        let (sealed_bare, _) = seal(&bare, b"abcd");
        assert_eq!(
            spliced_bytes(&sealed),
            spliced_bytes(&sealed_bare),
            "{encoding:?}"
        );
    }
}

#[test]
fn two_blocks_are_an_error_and_both_are_removed() {
    let mut fixture = with_block(0x0011, b"one!");
    fixture
        .add_private(
            SEAL_GROUP,
            SEAL_PRIVATE_CREATOR,
            0x01,
            VR::OB,
            b"two!".to_vec(),
        )
        .unwrap();
    for encoding in Encoding::ALL {
        let input = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let blocks = find_seal_blocks(&mut Cursor::new(&input)).unwrap();
        assert_eq!(
            blocks
                .iter()
                .map(|b| (b.group, b.block))
                .collect::<Vec<_>>(),
            vec![(0x0011, 0x10), (SEAL_GROUP, 0x10)]
        );
        let err = write_with_chain(&mut Cursor::new(&input), &mut Vec::new(), b"x").unwrap_err();
        assert!(
            matches!(&err, EmbedError::MultipleSealBlocks { blocks } if blocks.len() == 2),
            "{err}"
        );
        let (unsealed, removal) = unseal(&input);
        assert_eq!(removal.blocks.len(), 2);
        let plain = Fixture::ct_slice(21)
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        assert_eq!(
            spliced_bytes(&unsealed),
            spliced_bytes(&plain),
            "{encoding:?}"
        );
    }
}

#[test]
fn a_block_with_other_elements_is_reported_and_refused() {
    let mut fixture = with_block(SEAL_GROUP, b"chain");
    fixture
        .add_private(SEAL_GROUP, SEAL_PRIVATE_CREATOR, 0x02, VR::LO, "smuggled")
        .unwrap();
    let input = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let blocks = find_seal_blocks(&mut Cursor::new(&input)).unwrap();
    assert_eq!(blocks[0].extra_elements.len(), 1);
    assert_eq!(blocks[0].extra_elements[0].tag.element, 0x1002);
    assert!(!blocks[0].is_well_formed());
    let err = write_with_chain(&mut Cursor::new(&input), &mut Vec::new(), b"x").unwrap_err();
    assert!(
        matches!(err, EmbedError::MalformedSealBlock { .. }),
        "{err}"
    );
    let (unsealed, _) = unseal(&input);
    let plain = Fixture::ct_slice(21)
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    assert_eq!(unsealed, plain);
}

#[test]
fn creator_padding_is_trimmed_like_the_canonicalizer() {
    let cases: [(&[u8], bool); 7] = [
        (b"SCANSEAL 1", true),
        (b"SCANSEAL 1  ", true),
        (b"SCANSEAL 1\0\0", true),
        (b"  SCANSEAL 1 ", true),
        (b"SCANSEAL 10", false),
        (b"scanseal 1", false),
        (b"\0SCANSEAL 1", false),
    ];
    for (value, is_seal) in cases {
        let mut fixture = Fixture::ct_slice(2);
        fixture.set_attribute(
            Tag(SEAL_GROUP, 0x0010),
            VR::LO,
            Value::Verbatim(value.to_vec()),
        );
        fixture.set_attribute(Tag(SEAL_GROUP, 0x1001), VR::OB, vec![1u8, 2]);
        let input = fixture
            .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
            .unwrap();
        let blocks = find_seal_blocks(&mut Cursor::new(&input)).unwrap();
        assert_eq!(
            blocks.len(),
            usize::from(is_seal),
            "{:?}",
            value.escape_ascii().to_string()
        );
    }
}

#[test]
fn blocks_inside_sequences_are_not_seals_but_are_counted() {
    let mut fixture = Fixture::ct_slice(6);
    let nested = vec![vec![
        Element::text(Tag(SEAL_GROUP, 0x0010), VR::LO, SEAL_PRIVATE_CREATOR),
        Element::new(Tag(SEAL_GROUP, 0x1001), VR::OB, vec![1u8, 2, 3, 4]),
    ]];
    fixture
        .add_private(0x0013, "ACME SEQ", 0x01, VR::SQ, Value::Sequence(nested))
        .unwrap();
    for encoding in Encoding::ALL {
        for sequence_length in SEQUENCE_LENGTHS {
            let input = fixture.encode(encoding, &options(sequence_length)).unwrap();
            let scan = scan_seal_blocks(&mut Cursor::new(&input)).unwrap();
            assert!(scan.blocks.is_empty());
            // Implicit VR hides the VR of a defined-length sequence: an opaque value there.
            let visible = !(encoding == Encoding::ImplicitVrLittleEndian
                && sequence_length == SequenceLength::Defined);
            assert_eq!(
                scan.nested_creators,
                u64::from(visible),
                "{encoding:?} {sequence_length:?}"
            );
            let (sealed, summary) = seal(&input, b"top");
            assert_eq!(summary.action, EmbedAction::InsertedBlock);
            assert_eq!(
                find_seal_blocks(&mut Cursor::new(&sealed)).unwrap().len(),
                1
            );
        }
    }
}

#[test]
fn a_group_length_in_the_seal_group_is_refused() {
    let mut fixture = Fixture::ct_slice(2);
    fixture.set_attribute(Tag(SEAL_GROUP, 0x0000), VR::UL, 0u32);
    let input = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let err = write_with_chain(&mut Cursor::new(&input), &mut Vec::new(), b"x").unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::GroupLengthPresent {
                group: SEAL_GROUP,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn chain_length_limits() {
    let input = Fixture::structured_report()
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let err = write_with_chain(&mut Cursor::new(&input), &mut Vec::new(), b"").unwrap_err();
    assert!(matches!(err, EmbedError::EmptyChain));
    let big = vec![0u8; usize::try_from(MAX_CHAIN_LEN).unwrap() + 1];
    let err = write_with_chain(&mut Cursor::new(&input), &mut Vec::new(), &big).unwrap_err();
    assert!(matches!(err, EmbedError::ChainTooLong { .. }));
}

#[test]
fn top_level_out_of_order_is_refused() {
    let mut fixture = Fixture::ct_slice(2);
    fixture.elements_mut().swap(3, 4);
    for encoding in Encoding::ALL {
        let input = fixture.encode(encoding, &EncodeOptions::default()).unwrap();
        let err = find_seal_blocks(&mut Cursor::new(&input)).unwrap_err();
        assert!(
            matches!(err, EmbedError::OutOfOrder { .. }),
            "{encoding:?}: {err}"
        );
    }
}

/// Every malformed variant must give an error (or, where the cut happens to fall on an element
/// boundary, a valid shorter file) — never a panic.
fn exercise(bytes: &[u8]) -> Result<(), EmbedError> {
    let found = find_seal_blocks(&mut Cursor::new(bytes));
    let _ = write_with_chain(&mut Cursor::new(bytes), &mut Vec::new(), b"chain");
    let without = write_without_seal_blocks(&mut Cursor::new(bytes), &mut Vec::new());
    assert_eq!(found.is_ok(), without.is_ok());
    found.map(|_| ())
}

#[test]
fn truncated_files_give_typed_errors() {
    for encoding in Encoding::ALL {
        for sequence_length in SEQUENCE_LENGTHS {
            let input = Fixture::mr_multiframe(2, 9)
                .encode(encoding, &options(sequence_length))
                .unwrap();
            let (sealed, summary) = seal(&input, &chain(33, 3));
            let deflated = encoding == Encoding::DeflatedExplicitVrLittleEndian;
            let start = data_set_start(&sealed);
            let mut ok = 0;
            for cut in (0..sealed.len()).step_by(3) {
                let result = exercise(&sealed[..cut]);
                if cut < start {
                    assert!(
                        result.is_err(),
                        "{encoding:?}: cut {cut} in the File Meta accepted"
                    );
                }
                if deflated && cut + 1 < sealed.len() {
                    assert!(
                        result.is_err(),
                        "{encoding:?}: truncated deflate stream at {cut} accepted"
                    );
                }
                if !deflated && cut as u64 > summary.splices[0].output_offset {
                    // Inside the seal elements.
                    let err = result.as_ref().unwrap_err();
                    assert!(
                        matches!(
                            err,
                            EmbedError::Truncated { .. } | EmbedError::ValueBeyondEnd { .. }
                        ),
                        "{encoding:?} cut {cut}: {err}"
                    );
                }
                ok += usize::from(result.is_ok());
            }
            // Only cuts on element boundaries can be valid.
            assert!(
                ok < sealed.len() / 30,
                "{encoding:?}: {ok} truncations accepted"
            );
        }
    }
}

#[test]
fn trailing_garbage_is_refused() {
    for encoding in Encoding::ALL {
        let input = Fixture::ct_slice(2)
            .encode(encoding, &EncodeOptions::default())
            .unwrap();
        for garbage in [
            &b"\0"[..],
            b"\0\0\0\0",
            b"\0\0\0\0\0\0\0\0\0\0\0\0",
            b"garbage!",
        ] {
            let mut bytes = input.clone();
            bytes.extend_from_slice(garbage);
            let result = exercise(&bytes);
            if encoding != Encoding::DeflatedExplicitVrLittleEndian {
                assert!(result.is_err(), "{encoding:?} {garbage:?} accepted");
            } else if garbage.len() > 1 {
                assert!(
                    matches!(result, Err(EmbedError::TrailingData { .. })),
                    "{encoding:?} {garbage:?}: {result:?}"
                );
            } else {
                // One NUL after the stream is the pad PS3.5 A.5 allows, unless the stream
                // was padded already.
                let padded = sealed_stream_is_padded(&input);
                assert_eq!(result.is_ok(), !padded, "{encoding:?}: {result:?}");
            }
        }
    }
}

/// Whether the deflated file's stream is followed by a pad byte already.
fn sealed_stream_is_padded(file: &[u8]) -> bool {
    let start = data_set_start(file);
    let mut decoder = flate2::bufread::DeflateDecoder::new(&file[start..]);
    std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
    decoder.total_in() as usize + start < file.len()
}

/// Position of the first occurrence of `needle` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> usize {
    from + haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn a_huge_declared_length_is_an_error_not_an_allocation() {
    let fixture = Fixture::ct_slice(2);
    // Explicit VR Little Endian: Pixel Data OW, length field at header + 8.
    let mut bytes = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let at = find(&bytes, b"\xE0\x7F\x10\x00OW", data_set_start(&bytes));
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let err = find_seal_blocks(&mut Cursor::new(&bytes)).unwrap_err();
    match err {
        EmbedError::ValueBeyondEnd {
            tag,
            offset,
            length,
            ..
        } => {
            assert_eq!((tag.group, tag.element), (0x7FE0, 0x0010));
            assert_eq!(offset.value, at as u64);
            assert_eq!(length, 0xFFFF_FFF0);
        }
        other => panic!("{other}"),
    }
    // Implicit VR: the length follows the tag.
    let mut bytes = fixture
        .encode(Encoding::ImplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let at = find(&bytes, b"\xE0\x7F\x10\x00", data_set_start(&bytes));
    bytes[at + 4..at + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(matches!(
        find_seal_blocks(&mut Cursor::new(&bytes)),
        Err(EmbedError::ValueBeyondEnd { .. })
    ));
    // The chain element of a sealed file.
    let input = fixture
        .encode(Encoding::ExplicitVrBigEndian, &EncodeOptions::default())
        .unwrap();
    let (mut sealed, summary) = seal(&input, b"abcdef");
    let chain_header = usize::try_from(summary.splices[0].output_offset).unwrap() + 18;
    sealed[chain_header + 8..chain_header + 12].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    assert!(matches!(
        find_seal_blocks(&mut Cursor::new(&sealed)),
        Err(EmbedError::ValueBeyondEnd { .. })
    ));
    // A deflated file whose inflated data declares a huge chain: a limit, not an allocation.
    let mut fixture = Fixture::ct_slice(2);
    fixture.set_attribute(Tag(SEAL_GROUP, 0x0010), VR::LO, SEAL_PRIVATE_CREATOR);
    fixture.set_attribute(Tag(SEAL_GROUP, 0x1001), VR::OB, Value::Verbatim(Vec::new()));
    let mut data = fixture
        .encode_data_set(
            Encoding::DeflatedExplicitVrLittleEndian,
            &EncodeOptions::default(),
        )
        .unwrap();
    let len_at = data.len() - 4;
    data[len_at..].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let file = replace_data_set(
        &fixture
            .encode(
                Encoding::DeflatedExplicitVrLittleEndian,
                &EncodeOptions::default(),
            )
            .unwrap(),
        &deflate(&data),
    );
    assert!(matches!(
        find_seal_blocks(&mut Cursor::new(&file)),
        Err(EmbedError::ChainTooLong { .. })
    ));
    assert!(matches!(
        write_with_chain(&mut Cursor::new(&file), &mut Vec::new(), b"x"),
        Err(EmbedError::Truncated { .. })
    ));
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    let mut out = encoder.finish().unwrap();
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// `file` with its data set bytes replaced by `data`.
fn replace_data_set(file: &[u8], data: &[u8]) -> Vec<u8> {
    let start = data_set_start(file);
    let mut out = file[..start].to_vec();
    out.extend_from_slice(data);
    out
}

/// A sequence nested `depth` levels deep (the outermost is level 1).
fn nested_sequence(depth: usize) -> Element {
    let mut element = Element::text(Tag(0x0008, 0x0100), VR::SH, "LEAF");
    for _ in 0..depth {
        element = Element::sequence(Tag(0x0040, 0xA730), vec![vec![element]]);
    }
    element
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    for encoding in [
        Encoding::ExplicitVrLittleEndian,
        Encoding::ImplicitVrLittleEndian,
        Encoding::ExplicitVrBigEndian,
        Encoding::DeflatedExplicitVrLittleEndian,
    ] {
        for sequence_length in SEQUENCE_LENGTHS {
            let label = format!("{encoding:?} {sequence_length:?}");
            // Implicit VR with defined lengths: sequences are opaque values, never nested.
            let opaque = encoding == Encoding::ImplicitVrLittleEndian
                && sequence_length == SequenceLength::Defined;
            for (depth, accepted) in [(MAX_NESTING, true), (MAX_NESTING + 1, opaque)] {
                let mut fixture = Fixture::structured_report();
                fixture.insert_attribute(nested_sequence(depth));
                let input = fixture.encode(encoding, &options(sequence_length)).unwrap();
                let result = exercise(&input);
                if accepted {
                    assert!(result.is_ok(), "{label} depth {depth}: {result:?}");
                } else {
                    assert!(
                        matches!(
                            result,
                            Err(EmbedError::NestingTooDeep {
                                limit: MAX_NESTING,
                                ..
                            })
                        ),
                        "{label} depth {depth}: {result:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn non_dicom_input_gives_typed_errors() {
    let mut noise = Vec::new();
    let mut x = 0x1234_5678u32;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    let mut dicm_noise = vec![0u8; 128];
    dicm_noise.extend_from_slice(b"DICM");
    dicm_noise.extend_from_slice(&noise);
    let mut magic_only = vec![0u8; 128];
    magic_only.extend_from_slice(b"DICM");
    for bytes in [
        Vec::new(),
        b"hello".to_vec(),
        vec![0u8; 132],
        noise.clone(),
        magic_only,
        dicm_noise,
        b"DICM".to_vec(),
    ] {
        let err = exercise(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                EmbedError::NotDicom { .. }
                    | EmbedError::MissingTransferSyntax
                    | EmbedError::InvalidFileMeta { .. }
            ),
            "{err}"
        );
    }
    // Random bytes after a valid File Meta: data set errors.
    let file = Fixture::ct_slice(1)
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    for seed in 0..64u32 {
        let mut y = seed.wrapping_mul(2_654_435_761) | 1;
        let junk: Vec<u8> = (0..600)
            .map(|_| {
                y ^= y << 13;
                y ^= y >> 17;
                y ^= y << 5;
                y as u8
            })
            .collect();
        let _ = exercise(&replace_data_set(&file, &junk));
    }
}

#[test]
fn corrupting_bytes_never_panics() {
    for encoding in Encoding::ALL {
        let input = Fixture::ct_slice(3)
            .encode(encoding, &options(SequenceLength::Defined))
            .unwrap();
        let (sealed, _) = seal(&input, b"corrupt me");
        let start = data_set_start(&sealed);
        // Flip header-ish bytes throughout the data set (values of pixel data are skipped).
        for at in (start..sealed.len()).step_by(7) {
            for value in [0x00u8, 0xFF, 0x80] {
                let mut bytes = sealed.clone();
                bytes[at] = value;
                let _ = exercise(&bytes);
            }
        }
    }
}

#[test]
fn unknown_transfer_syntax_is_refused() {
    let file = Fixture::ct_slice(1)
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    // Same length as 1.2.840.10008.1.2.1 (19 chars + NUL pad).
    let uid = b"1.2.840.10008.1.2.1\0";
    let at = find(&file, uid, 132);
    let mut bytes = file.clone();
    bytes[at..at + uid.len()].copy_from_slice(b"1.2.3.4.5.6.7.8.9.1\0");
    assert!(matches!(
        find_seal_blocks(&mut Cursor::new(&bytes)),
        Err(EmbedError::UnsupportedTransferSyntax { .. })
    ));
    let scan = scan_seal_blocks(&mut Cursor::new(&file)).unwrap();
    assert_eq!(scan.transfer_syntax, "1.2.840.10008.1.2.1");
    assert_eq!(scan.encoding, DataSetEncoding::ExplicitVrLittleEndian);
}

/// A reader that counts how many bytes were read, to show values are skipped, not read.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn a_large_file_is_walked_by_seeking() {
    // 512 MiB of pixel data, sparse on disk: only the header and the seal are read by the
    // scan, and the copy streams through a fixed buffer.
    const PIXELS: u64 = 512 * 1024 * 1024;
    let mut fixture = Fixture::structured_report();
    fixture.set_attribute(Tag(0x7FE0, 0x0010), VR::OB, Value::Verbatim(Vec::new()));
    let mut head = fixture
        .encode(Encoding::ExplicitVrLittleEndian, &EncodeOptions::default())
        .unwrap();
    let len_at = head.len() - 4;
    head[len_at..].copy_from_slice(&u32::try_from(PIXELS).unwrap().to_le_bytes());
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&head).unwrap();
    file.set_len(head.len() as u64 + PIXELS).unwrap();

    let mut counting = CountingReader {
        inner: &mut file,
        read: 0,
    };
    assert!(find_seal_blocks(&mut counting).unwrap().is_empty());
    assert!(
        counting.read < 1024 * 1024,
        "scan read {} bytes",
        counting.read
    );

    let mut sealed = tempfile::tempfile().unwrap();
    let summary = {
        let mut sink = std::io::BufWriter::new(&mut sealed);
        write_with_chain(&mut file, &mut sink, b"big file chain").unwrap()
    };
    assert_eq!(summary.splices[0].input_offset, head.len() as u64 + PIXELS);
    let mut counting = CountingReader {
        inner: &mut sealed,
        read: 0,
    };
    let blocks = find_seal_blocks(&mut counting).unwrap();
    assert_eq!(blocks[0].chain, b"big file chain");
    assert!(counting.read < 1024 * 1024);
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let peak_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        // Other tests of this binary run alongside; none comes near the file's size.
        assert!(peak_kb < 256 * 1024, "peak resident memory {peak_kb} kB");
    }
}

#[test]
fn a_large_deflated_file_is_streamed() {
    let mut fixture = Fixture::structured_report();
    fixture.set_attribute(Tag(0x7FE0, 0x0010), VR::OB, vec![7u8; 16 * 1024 * 1024]);
    let input = fixture
        .encode(
            Encoding::DeflatedExplicitVrLittleEndian,
            &EncodeOptions::default(),
        )
        .unwrap();
    drop(fixture);
    let (sealed, summary) = seal(&input, b"deflated chain");
    assert_eq!(summary.offset_base, OffsetBase::InflatedDataSet);
    let blocks = find_seal_blocks(&mut Cursor::new(&sealed)).unwrap();
    assert_eq!(blocks[0].chain, b"deflated chain");
    assert_eq!(blocks[0].offset_base, OffsetBase::InflatedDataSet);
}

/// GDCM ends the raw deflate stream of Deflated Explicit VR Little Endian files with a
/// gzip-style trailer (CRC-32 and length of the inflated data): accepted when it matches.
#[test]
fn a_matching_gzip_trailer_after_the_deflate_stream_is_accepted() {
    let file = Fixture::ct_slice(4)
        .encode(
            Encoding::DeflatedExplicitVrLittleEndian,
            &EncodeOptions::default(),
        )
        .unwrap();
    let start = data_set_start(&file);
    let mut inflated = Vec::new();
    let mut decoder = flate2::read::DeflateDecoder::new(&file[start..]);
    decoder.read_to_end(&mut inflated).unwrap();
    let stream_len = decoder.total_in() as usize;
    let mut crc = flate2::Crc::new();
    crc.update(&inflated);
    let trailer = [
        crc.sum().to_le_bytes(),
        (inflated.len() as u32).to_le_bytes(),
    ]
    .concat();
    let with_trailer = [&file[..start + stream_len], &trailer[..]].concat();
    assert!(find_seal_blocks(&mut Cursor::new(&with_trailer))
        .unwrap()
        .is_empty());
    let (sealed, _) = seal(&with_trailer, &chain(41, 3));
    assert_eq!(
        find_seal_blocks(&mut Cursor::new(&sealed)).unwrap().len(),
        1
    );

    let mut wrong = trailer.clone();
    wrong[0] ^= 1;
    let with_wrong = [&file[..start + stream_len], &wrong[..]].concat();
    assert!(find_seal_blocks(&mut Cursor::new(&with_wrong)).is_err());
    let too_long = [&with_trailer[..], &[0u8, 0][..]].concat();
    assert!(find_seal_blocks(&mut Cursor::new(&too_long)).is_err());
}
