//! Thumbnail options: the grammar, and the validated [`ThumbnailSpec`] it
//! parses into. Options are parsed once; nothing downstream sees raw text.
//!
//! # Grammar
//!
//! The same options are written two ways:
//!
//! * in a query (`POST /v1/thumbnail?...`): `key=value` pairs joined by `&`,
//!   percent-encoding allowed, e.g. `w=320&h=180&fit=cover&gravity=fp:0.3:0.7`;
//! * in a path segment (`GET /v1/thumbnail/<sig>/<options>/<source>`):
//!   `key:value` pairs joined by `,`, e.g. `w:320,h:180,fit:cover,g:fp:0.3:0.7`
//!   (the key ends at the first `:`); a lone `-` means "all defaults".
//!
//! | key (aliases) | value | default |
//! |---|---|---|
//! | `w` (`width`) | output width in CSS pixels, 1 to 8192 | from `h` and the aspect ratio, or the source width |
//! | `h` (`height`) | output height in CSS pixels, 1 to 8192 | from `w` and the aspect ratio, or the source height |
//! | `fit` | `cover`, `contain`, `fill`, `scale-down` (`scale_down`, `scaledown`), `pad` | `cover` |
//! | `gravity` (`g`) | `centre` (`center`, `c`), `north` (`n`), `north-east` (`northeast`, `ne`), `east` (`e`), `south-east` (`se`), `south` (`s`), `south-west` (`sw`), `west` (`w`), `north-west` (`nw`), `smart` (`sm`), `fp:X:Y` with X, Y in 0 to 1 | `centre` |
//! | `dpr` | device pixel ratio, 1 to 4 (decimals allowed): multiplies `w` and `h` | `1` |
//! | `format` (`f`) | `jpeg` (`jpg`), `png`, `webp`, `avif`, `auto` | `auto` |
//! | `q` (`quality`) | encoder quality, 1 to 100 | `80` |
//! | `enlarge` | `1`/`true` or `0`/`false`: allow output larger than the source | `0` |
//! | `bg` (`background`) | `RRGGBB` or `RRGGBBAA` hex: `pad` and flattening colour | `ffffff` |
//! | `crop` | `X:Y:W:H` source region (pixels, after EXIF orientation) applied first | none |
//!
//! `auto` picks the best format the request's `Accept` header allows: AVIF,
//! then WebP, then JPEG (PNG instead of JPEG when the result has
//! transparency). Unknown keys, repeated keys and malformed values are
//! errors that name the option.

use studio_edge_imaging::Format;

use crate::ThumbnailError;

/// The largest output dimension, after `dpr`.
pub const MAX_DIMENSION: u32 = 8192;

/// A validated thumbnail request.
#[derive(Debug, Clone, PartialEq)]
pub struct ThumbnailSpec {
    /// Requested width in CSS pixels (multiplied by `dpr` for output).
    pub width: Option<Dimension>,
    /// Requested height in CSS pixels.
    pub height: Option<Dimension>,
    pub fit: Fit,
    pub gravity: Gravity,
    pub dpr: Dpr,
    pub format: OutputFormat,
    pub quality: Quality,
    /// Allow output larger than the source.
    pub enlarge: bool,
    pub background: Rgba,
    /// A source region applied before anything else.
    pub crop: Option<Region>,
}

impl Default for ThumbnailSpec {
    fn default() -> Self {
        Self {
            width: None,
            height: None,
            fit: Fit::Cover,
            gravity: Gravity::Centre,
            dpr: Dpr::ONE,
            format: OutputFormat::Auto { accept: None },
            quality: Quality::DEFAULT,
            enlarge: false,
            background: Rgba::WHITE,
            crop: None,
        }
    }
}

impl ThumbnailSpec {
    /// The output box in device pixels: `w` and `h` times `dpr`, rounded,
    /// at most [`MAX_DIMENSION`].
    pub fn device_box(&self) -> (Option<u32>, Option<u32>) {
        let scale = |d: Dimension| {
            ((d.get() as f32 * self.dpr.get()).round() as u32).clamp(1, MAX_DIMENSION)
        };
        (self.width.map(scale), self.height.map(scale))
    }

    /// Whether the response depends on the `Accept` header.
    pub fn varies_with_accept(&self) -> bool {
        matches!(self.format, OutputFormat::Auto { .. })
    }
}

/// A dimension in CSS pixels, 1 to [`MAX_DIMENSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension(u32);

impl Dimension {
    pub fn new(value: u32) -> Option<Self> {
        (1..=MAX_DIMENSION).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// How the image is fitted into the `w` x `h` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fill the box, cropping what overflows (placed by gravity).
    Cover,
    /// Fit inside the box, keeping the aspect ratio.
    Contain,
    /// Stretch to exactly the box.
    Fill,
    /// Like `Contain`, but never enlarges.
    ScaleDown,
    /// Like `Contain`, then pad to exactly the box with the background.
    Pad,
}

/// Which part of the image `cover` keeps (and where `pad` places it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gravity {
    Centre,
    North,
    NorthEast,
    East,
    SouthEast,
    South,
    SouthWest,
    West,
    NorthWest,
    /// The most salient region (edges and saturated colour).
    Smart,
    /// A focal point in relative coordinates.
    FocalPoint(FocalPoint),
}

impl Gravity {
    /// For the compass points: the position of the kept region within the
    /// free space, as fractions (0 = left/top, 1 = right/bottom).
    pub fn compass_anchor(self) -> Option<(f64, f64)> {
        Some(match self {
            Self::Centre => (0.5, 0.5),
            Self::North => (0.5, 0.0),
            Self::NorthEast => (1.0, 0.0),
            Self::East => (1.0, 0.5),
            Self::SouthEast => (1.0, 1.0),
            Self::South => (0.5, 1.0),
            Self::SouthWest => (0.0, 1.0),
            Self::West => (0.0, 0.5),
            Self::NorthWest => (0.0, 0.0),
            Self::Smart | Self::FocalPoint(_) => return None,
        })
    }
}

/// A point in relative image coordinates, each 0.0 to 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FocalPoint {
    x: f32,
    y: f32,
}

impl FocalPoint {
    pub fn new(x: f32, y: f32) -> Option<Self> {
        let valid = |v: f32| (0.0..=1.0).contains(&v);
        (valid(x) && valid(y)).then_some(Self { x, y })
    }

    pub fn x(self) -> f32 {
        self.x
    }

    pub fn y(self) -> f32 {
        self.y
    }
}

/// Device pixel ratio, 1.0 to 4.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dpr(f32);

impl Dpr {
    pub const ONE: Self = Self(1.0);

    pub fn new(value: f32) -> Option<Self> {
        (1.0..=4.0).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> f32 {
        self.0
    }
}

/// Encoder quality, 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality(u8);

impl Quality {
    pub const DEFAULT: Self = Self(80);

    pub fn new(value: u8) -> Option<Self> {
        (1..=100).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A format the worker writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeFormat {
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl From<EncodeFormat> for Format {
    fn from(format: EncodeFormat) -> Self {
        match format {
            EncodeFormat::Jpeg => Format::Jpeg,
            EncodeFormat::Png => Format::Png,
            EncodeFormat::Webp => Format::Webp,
            EncodeFormat::Avif => Format::Avif,
        }
    }
}

/// The output format: fixed, or negotiated from an `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    Fixed(EncodeFormat),
    /// The best format `accept` allows; `None` (no header) allows only the
    /// universal ones (JPEG, or PNG for transparency).
    Auto {
        accept: Option<String>,
    },
}

/// An sRGB colour with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub [u8; 4]);

impl Rgba {
    pub const WHITE: Self = Self([255, 255, 255, 255]);
}

/// A rectangle in source pixels (after EXIF orientation), never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

impl Region {
    pub fn new(x: u32, y: u32, width: u32, height: u32) -> Option<Self> {
        (width > 0 && height > 0).then_some(Self {
            x,
            y,
            width,
            height,
        })
    }

    pub fn x(self) -> u32 {
        self.x
    }

    pub fn y(self) -> u32 {
        self.y
    }

    pub fn width(self) -> u32 {
        self.width
    }

    pub fn height(self) -> u32 {
        self.height
    }
}

/// Parses query options (`w=320&fit=cover`); see the [module docs](self).
pub fn parse_options(query: &str) -> Result<ThumbnailSpec, ThumbnailError> {
    let pairs = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect::<Result<Vec<_>, ThumbnailError>>()?;
    parse_pairs(pairs)
}

/// Parses a path options segment (`w:320,fit:cover`, or `-` for defaults);
/// see the [module docs](self).
pub fn parse_path_options(segment: &str) -> Result<ThumbnailSpec, ThumbnailError> {
    let segment = percent_decode(segment)?;
    if segment == "-" {
        return Ok(ThumbnailSpec::default());
    }
    let pairs = segment
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once(':').unwrap_or((pair, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    parse_pairs(pairs)
}

fn parse_pairs(pairs: Vec<(String, String)>) -> Result<ThumbnailSpec, ThumbnailError> {
    let mut spec = ThumbnailSpec::default();
    let mut seen: Vec<Key> = Vec::new();
    for (key, value) in &pairs {
        let key = Key::parse(key)?;
        let option = key.name();
        if seen.contains(&key) {
            return Err(bad(option, "given more than once"));
        }
        seen.push(key);
        let value = value.as_str();
        match key {
            Key::Width => spec.width = Some(parse_dimension(option, value)?),
            Key::Height => spec.height = Some(parse_dimension(option, value)?),
            Key::Fit => spec.fit = parse_fit(value)?,
            Key::Gravity => spec.gravity = parse_gravity(value)?,
            Key::Dpr => {
                spec.dpr = value
                    .parse::<f32>()
                    .ok()
                    .and_then(Dpr::new)
                    .ok_or_else(|| bad(option, format!("{value:?} is not a number from 1 to 4")))?;
            }
            Key::Format => spec.format = parse_format(value)?,
            Key::Quality => {
                spec.quality =
                    value
                        .parse::<u8>()
                        .ok()
                        .and_then(Quality::new)
                        .ok_or_else(|| {
                            bad(option, format!("{value:?} is not an integer from 1 to 100"))
                        })?;
            }
            Key::Enlarge => spec.enlarge = parse_bool(option, value)?,
            Key::Background => spec.background = parse_colour(value)?,
            Key::Crop => spec.crop = Some(parse_region(value)?),
        }
    }
    Ok(spec)
}

fn bad(option: &str, reason: impl Into<String>) -> ThumbnailError {
    ThumbnailError::BadOption {
        option: option.to_owned(),
        reason: reason.into(),
    }
}

/// An option key, aliases resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Width,
    Height,
    Fit,
    Gravity,
    Dpr,
    Format,
    Quality,
    Enlarge,
    Background,
    Crop,
}

impl Key {
    fn parse(key: &str) -> Result<Self, ThumbnailError> {
        Ok(match key {
            "w" | "width" => Self::Width,
            "h" | "height" => Self::Height,
            "fit" => Self::Fit,
            "gravity" | "g" => Self::Gravity,
            "dpr" => Self::Dpr,
            "format" | "f" => Self::Format,
            "q" | "quality" => Self::Quality,
            "enlarge" => Self::Enlarge,
            "bg" | "background" => Self::Background,
            "crop" => Self::Crop,
            other => return Err(bad(other, "unknown option")),
        })
    }

    /// The canonical name, used in error messages.
    fn name(self) -> &'static str {
        match self {
            Self::Width => "w",
            Self::Height => "h",
            Self::Fit => "fit",
            Self::Gravity => "gravity",
            Self::Dpr => "dpr",
            Self::Format => "format",
            Self::Quality => "q",
            Self::Enlarge => "enlarge",
            Self::Background => "bg",
            Self::Crop => "crop",
        }
    }
}

fn parse_dimension(option: &str, value: &str) -> Result<Dimension, ThumbnailError> {
    value
        .parse::<u32>()
        .ok()
        .and_then(Dimension::new)
        .ok_or_else(|| {
            bad(
                option,
                format!("{value:?} is not an integer from 1 to {MAX_DIMENSION}"),
            )
        })
}

fn parse_fit(value: &str) -> Result<Fit, ThumbnailError> {
    Ok(match value {
        "cover" => Fit::Cover,
        "contain" => Fit::Contain,
        "fill" => Fit::Fill,
        "scale-down" | "scale_down" | "scaledown" => Fit::ScaleDown,
        "pad" => Fit::Pad,
        other => {
            return Err(bad(
                "fit",
                format!("{other:?} is not one of cover, contain, fill, scale-down, pad"),
            ));
        }
    })
}

fn parse_gravity(value: &str) -> Result<Gravity, ThumbnailError> {
    if let Some(point) = value.strip_prefix("fp:") {
        let parsed = point
            .split_once(':')
            .and_then(|(x, y)| FocalPoint::new(x.parse().ok()?, y.parse().ok()?));
        return parsed.map(Gravity::FocalPoint).ok_or_else(|| {
            bad(
                "gravity",
                format!("{value:?}: a focal point is fp:X:Y with X and Y from 0 to 1"),
            )
        });
    }
    Ok(match value {
        "centre" | "center" | "c" => Gravity::Centre,
        "north" | "n" => Gravity::North,
        "north-east" | "northeast" | "ne" => Gravity::NorthEast,
        "east" | "e" => Gravity::East,
        "south-east" | "southeast" | "se" => Gravity::SouthEast,
        "south" | "s" => Gravity::South,
        "south-west" | "southwest" | "sw" => Gravity::SouthWest,
        "west" | "w" => Gravity::West,
        "north-west" | "northwest" | "nw" => Gravity::NorthWest,
        "smart" | "sm" => Gravity::Smart,
        other => {
            return Err(bad(
                "gravity",
                format!("{other:?} is not centre, a compass point, smart or fp:X:Y"),
            ));
        }
    })
}

fn parse_format(value: &str) -> Result<OutputFormat, ThumbnailError> {
    Ok(match value {
        "jpeg" | "jpg" => OutputFormat::Fixed(EncodeFormat::Jpeg),
        "png" => OutputFormat::Fixed(EncodeFormat::Png),
        "webp" => OutputFormat::Fixed(EncodeFormat::Webp),
        "avif" => OutputFormat::Fixed(EncodeFormat::Avif),
        "auto" => OutputFormat::Auto { accept: None },
        other => {
            return Err(bad(
                "format",
                format!("{other:?} is not one of jpeg, png, webp, avif, auto"),
            ));
        }
    })
}

fn parse_bool(option: &str, value: &str) -> Result<bool, ThumbnailError> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(bad(option, format!("{other:?} is not 1, 0, true or false"))),
    }
}

fn parse_colour(value: &str) -> Result<Rgba, ThumbnailError> {
    let hex = value.strip_prefix('#').unwrap_or(value);
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    let colour = match hex.len() {
        6 if hex.is_ascii() => (|| Some([byte(0)?, byte(2)?, byte(4)?, 255]))(),
        8 if hex.is_ascii() => (|| Some([byte(0)?, byte(2)?, byte(4)?, byte(6)?]))(),
        _ => None,
    };
    colour
        .map(Rgba)
        .ok_or_else(|| bad("bg", format!("{value:?} is not RRGGBB or RRGGBBAA hex")))
}

fn parse_region(value: &str) -> Result<Region, ThumbnailError> {
    let numbers: Vec<u32> = value
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    match numbers[..] {
        [x, y, w, h] => Region::new(x, y, w, h),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            "crop",
            format!("{value:?} is not X:Y:W:H with a non-zero width and height"),
        )
    })
}

fn percent_decode(text: &str) -> Result<String, ThumbnailError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let byte = text
                    .get(i + 1..i + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| bad(text, "malformed percent-encoding"))?;
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad(text, "not UTF-8 after percent-decoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(result: Result<ThumbnailSpec, ThumbnailError>) -> String {
        match result {
            Err(ThumbnailError::BadOption { option, .. }) => option,
            other => panic!("expected a bad option, got {other:?}"),
        }
    }

    #[test]
    fn empty_query_gives_defaults() {
        assert_eq!(parse_options("").unwrap(), ThumbnailSpec::default());
        assert_eq!(parse_path_options("-").unwrap(), ThumbnailSpec::default());
    }

    #[test]
    fn parses_every_option() {
        let spec = parse_options(
            "w=320&h=180&fit=pad&gravity=ne&dpr=2&format=webp&q=75&enlarge=1&bg=00ff0080&crop=10:20:300:200",
        )
        .unwrap();
        assert_eq!(
            spec,
            ThumbnailSpec {
                width: Dimension::new(320),
                height: Dimension::new(180),
                fit: Fit::Pad,
                gravity: Gravity::NorthEast,
                dpr: Dpr::new(2.0).unwrap(),
                format: OutputFormat::Fixed(EncodeFormat::Webp),
                quality: Quality::new(75).unwrap(),
                enlarge: true,
                background: Rgba([0, 255, 0, 128]),
                crop: Region::new(10, 20, 300, 200),
            }
        );
        assert_eq!(spec.device_box(), (Some(640), Some(360)));
        let path = parse_path_options(
            "w:320,h:180,fit:pad,g:ne,dpr:2,f:webp,q:75,enlarge:true,bg:00ff0080,crop:10:20:300:200",
        )
        .unwrap();
        assert_eq!(path, spec);
    }

    #[test]
    fn aliases() {
        let spec =
            parse_options("width=10&height=20&g=sm&f=jpg&quality=5&background=%23102030").unwrap();
        assert_eq!(spec.width, Dimension::new(10));
        assert_eq!(spec.height, Dimension::new(20));
        assert_eq!(spec.gravity, Gravity::Smart);
        assert_eq!(spec.format, OutputFormat::Fixed(EncodeFormat::Jpeg));
        assert_eq!(spec.quality.get(), 5);
        assert_eq!(spec.background, Rgba([0x10, 0x20, 0x30, 255]));
        for (text, gravity) in [
            ("center", Gravity::Centre),
            ("c", Gravity::Centre),
            ("north", Gravity::North),
            ("northeast", Gravity::NorthEast),
            ("e", Gravity::East),
            ("south-east", Gravity::SouthEast),
            ("s", Gravity::South),
            ("southwest", Gravity::SouthWest),
            ("w", Gravity::West),
            ("north-west", Gravity::NorthWest),
        ] {
            assert_eq!(parse_gravity(text).unwrap(), gravity, "{text}");
        }
        for text in ["scale-down", "scale_down", "scaledown"] {
            assert_eq!(parse_fit(text).unwrap(), Fit::ScaleDown);
        }
    }

    #[test]
    fn focal_point() {
        let spec = parse_options("gravity=fp:0.3:0.7").unwrap();
        let Gravity::FocalPoint(point) = spec.gravity else {
            panic!("{spec:?}");
        };
        assert_eq!((point.x(), point.y()), (0.3, 0.7));
        assert_eq!(
            parse_path_options("g:fp:0:1").unwrap().gravity,
            Gravity::FocalPoint(FocalPoint::new(0.0, 1.0).unwrap())
        );
        assert_eq!(option_of(parse_options("gravity=fp:1.5:0.5")), "gravity");
        assert_eq!(option_of(parse_options("gravity=fp:0.5")), "gravity");
    }

    #[test]
    fn bad_options_are_named() {
        for (query, option) in [
            ("w=0", "w"),
            ("w=9000", "w"),
            ("w=abc", "w"),
            ("h=-1", "h"),
            ("fit=stretch", "fit"),
            ("gravity=up", "gravity"),
            ("dpr=0.5", "dpr"),
            ("dpr=5", "dpr"),
            ("format=gif", "format"),
            ("q=0", "q"),
            ("q=101", "q"),
            ("enlarge=yes", "enlarge"),
            ("bg=fff", "bg"),
            ("bg=gggggg", "bg"),
            ("crop=1:2:3", "crop"),
            ("crop=0:0:0:10", "crop"),
            ("zoom=2", "zoom"),
            ("w=1&width=2", "w"),
        ] {
            assert_eq!(option_of(parse_options(query)), option, "{query}");
        }
        assert_eq!(option_of(parse_path_options("w:320,blur:3")), "blur");
    }

    #[test]
    fn dpr_multiplies_and_clamps() {
        let spec = parse_options("w=333&dpr=1.5").unwrap();
        assert_eq!(spec.device_box(), (Some(500), None));
        let spec = parse_options("w=8000&h=10&dpr=4").unwrap();
        assert_eq!(spec.device_box(), (Some(MAX_DIMENSION), Some(40)));
    }
}
