//! What the fuzz targets share.

/// Where the frame decoders that `scanseal-canon` calls live. Canon runs each frame decode
/// inside `catch_unwind` and reports a decoder panic as a `Decode` error ("the decoder
/// panicked"), so such a panic is contained by design.
const CONTAINED: &[&str] = &[
    "/dicom-transfer-syntax-registry-",
    "/jpeg-decoder-",
    "/openjp2-",
    "/jpeg2k-",
    "/charls-",
];

/// Lets panics raised inside the third-party frame decoders unwind (to canon's
/// `catch_unwind`) instead of aborting at once, as libfuzzer-sys's panic hook does for every
/// panic. Any other panic still aborts; a decoder panic that nothing catches still reaches
/// libfuzzer-sys's own `catch_unwind` and aborts there, so it is still reported.
pub fn contain_decoder_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_decoder = info
            .location()
            .is_some_and(|at| CONTAINED.iter().any(|krate| at.file().contains(krate)));
        if !in_decoder {
            abort(info);
        }
    }));
}
