//! Component glue: the HTTP face and the typed thumbnail interface.

use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam, WasiFetch};

studio_edge_guest::generate_worker!(
    "thumbnail-worker" in "../../../wit",
    "fermyon:spin/variables@2.0.0": studio_edge_guest::wasi_http::fermyon::spin::variables,
);

use exports::studio::edge::thumbnail::{
    self as api, EncodedImage, Error, Fit, Gravity, OutputFormat, Rgba, ThumbnailSpec,
};
use studio::edge::types::ImageFormat;

struct Misbehave;

impl exports::wasi::http::incoming_handler::Guest for Misbehave {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        wasi_http::serve(request, out, 1 << 20, |request| {
            crate::handle(request, &WasiFetch)
        });
    }
}

impl api::Guest for Misbehave {
    /// `spin`, `alloc` and `trap` misbehave; anything else parses to a
    /// fixed spec, so a successful typed call can be told apart.
    fn parse_options(query: String) -> Result<ThumbnailSpec, Error> {
        if let Some(misbehaviour) = crate::Misbehaviour::parse(&query) {
            misbehaviour.run();
        }
        Ok(ThumbnailSpec {
            width: Some(query.len() as u32),
            height: None,
            fit: Fit::Cover,
            gravity: Gravity::Centre,
            dpr: 1.0,
            format: OutputFormat::Fixed(ImageFormat::Png),
            quality: 80,
            enlarge: false,
            background: Rgba {
                r: 0,
                g: 0,
                b: 0,
                a: 0,
            },
            crop: None,
        })
    }

    /// Echoes the source back reversed.
    fn transform(source: Vec<u8>, _spec: ThumbnailSpec) -> Result<EncodedImage, Error> {
        Ok(EncodedImage {
            format: ImageFormat::Png,
            bytes: source.into_iter().rev().collect(),
        })
    }

    fn transform_many(
        source: Vec<u8>,
        specs: Vec<ThumbnailSpec>,
    ) -> Vec<Result<EncodedImage, Error>> {
        specs
            .into_iter()
            .map(|spec| Self::transform(source.clone(), spec))
            .collect()
    }
}

export!(Misbehave);
