//! The image formats accepted, and how an image is named to caches: its `ETag`, and the version
//! in its URL.

use common_catalog::ImageRef;
use mongodb::bson::oid::ObjectId;

/// The image formats accepted, told apart by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    Webp,
}

impl ImageFormat {
    /// The format a `Content-Type` declares (parameters and case ignored), if it is one of ours.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        [Self::Png, Self::Jpeg, Self::Webp]
            .into_iter()
            .find(|format| format.mime().eq_ignore_ascii_case(essence))
    }

    /// The media type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// Whether `bytes` start as a file of this format does.
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            Self::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => bytes.starts_with(b"\xff\xd8\xff"),
            Self::Webp => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        }
    }
}

/// The strong `ETag` of an image: its SHA-256, quoted.
pub fn etag(image: &ImageRef) -> String {
    format!("\"{}\"", image.sha256)
}

/// The version of an image in its URL: the first 16 hex characters of its SHA-256.
pub fn version(image: &ImageRef) -> &str {
    image.sha256.get(..16).unwrap_or(&image.sha256)
}

/// Where a product's image is served, relative to the service's base URL; a new image has a new
/// URL, so caches may keep the bytes of each.
pub fn image_url(product: ObjectId, image: &ImageRef) -> String {
    format!("/products/{}/image?v={}", product.to_hex(), version(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_without_parameters_or_case() {
        for (value, expected) in [
            ("image/png", Some(ImageFormat::Png)),
            ("IMAGE/PNG; charset=binary", Some(ImageFormat::Png)),
            ("image/jpeg", Some(ImageFormat::Jpeg)),
            (" image/webp ;q=1", Some(ImageFormat::Webp)),
            ("image/gif", None),
            ("image/jpg", None),
            ("application/json", None),
            ("", None),
        ] {
            assert_eq!(ImageFormat::from_content_type(value), expected, "{value}");
        }
    }

    #[test]
    fn formats_are_recognised_by_their_magic_numbers() {
        let png = b"\x89PNG\r\n\x1a\n rest";
        let jpeg = b"\xff\xd8\xff\xe0 rest";
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ";
        assert!(ImageFormat::Png.matches(png));
        assert!(ImageFormat::Jpeg.matches(jpeg));
        assert!(ImageFormat::Webp.matches(webp));
        assert!(!ImageFormat::Png.matches(jpeg));
        assert!(!ImageFormat::Jpeg.matches(b"\xff\xd8"));
        assert!(!ImageFormat::Webp.matches(b"RIFF\x10\0\0\0WAVE"));
        assert!(!ImageFormat::Png.matches(b"hello, I am text"));
    }
}
