//! multipart/form-data parsing as ingest meets it (multer, under axum's Multipart): every field's headers and
//! bytes read to the end, the boundary taken from the input's first line, the body arriving in odd chunks.
#![no_main]
use futures::stream;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(i) = data.iter().position(|b| *b == b'\n') else { return };
    let boundary = String::from_utf8_lossy(&data[..i]).into_owned();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        data[i + 1..].chunks(97).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let mut mp = multer::Multipart::new(stream::iter(chunks), boundary);
    futures::executor::block_on(async {
        while let Ok(Some(mut field)) = mp.next_field().await {
            let _ = (field.name().map(str::len), field.file_name().map(str::len), field.content_type().cloned());
            while let Ok(Some(_)) = field.chunk().await {}
        }
    });
});
