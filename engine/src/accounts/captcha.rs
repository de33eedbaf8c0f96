//! The login captcha (ACC-2): a short code drawn into a PNG.
//!
//! Shiji is headless, so the captcha travels through the API as an image the
//! frontend shows; the engine keeps the answer. The drawing is our own (a tiny
//! bitmap font, sheared and jittered, over noise) to stay free of font files
//! and image libraries. It slows scripted password guessing; it is not meant
//! to beat a determined OCR, which is what the login lock-out (ACC-4) is for.
//!
//! The caller stores the answer server-side, keyed by a captcha id, with a
//! short expiry, and deletes it on the first attempt, right or wrong.

use std::fmt;

use rand::Rng;
use subtle::ConstantTimeEq;

/// Characters a captcha uses: no 0/O, 1/I/L, which people confuse.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in one answer (31^5 ≈ 2.9e7 possibilities).
pub const LENGTH: usize = 5;
pub const WIDTH: u32 = 150;
pub const HEIGHT: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// Encoding into memory failed; only a bug in the drawing code can cause it.
    #[error("cannot encode captcha image: {0}")]
    Encode(#[from] png::EncodingError),
}

/// A generated captcha: the answer to keep, the image to send.
#[derive(Clone)]
pub struct Captcha {
    pub answer: String,
    pub png: Vec<u8>,
}

// The answer stays out of logs: whoever reads them could pass the captcha.
impl fmt::Debug for Captcha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captcha")
            .field("answer", &"<redacted>")
            .field("png_bytes", &self.png.len())
            .finish()
    }
}

impl Captcha {
    pub fn generate() -> Result<Captcha, CaptchaError> {
        let mut rng = rand::rng();
        let answer: String = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        let canvas = draw(&answer, &mut rng);
        Ok(Captcha {
            png: canvas.encode()?,
            answer,
        })
    }
}

/// Whether what the user typed matches the answer: case and spaces do not
/// matter, and the comparison takes the same time wherever they differ.
pub fn answer_matches(expected: &str, given: &str) -> bool {
    let normalise = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect::<String>()
            .into_bytes()
    };
    let expected = normalise(expected);
    // An empty expected answer would match an empty reply: never accept that.
    !expected.is_empty() && bool::from(expected.ct_eq(&normalise(given)))
}

const GLYPH_W: usize = 5;
const GLYPH_H: usize = 7;

/// 5×7 glyphs for `ALPHABET`, one row per string, `#` for ink.
fn glyph(c: u8) -> [&'static str; GLYPH_H] {
    match c {
        b'2' => [
            ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####",
        ],
        b'3' => [
            "####.", "....#", "....#", ".###.", "....#", "....#", "####.",
        ],
        b'4' => [
            "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.",
        ],
        b'5' => [
            "#####", "#....", "####.", "....#", "....#", "#...#", ".###.",
        ],
        b'6' => [
            "..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###.",
        ],
        b'7' => [
            "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...",
        ],
        b'8' => [
            ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.",
        ],
        b'9' => [
            ".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##..",
        ],
        b'A' => [
            ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
        b'B' => [
            "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####.",
        ],
        b'C' => [
            ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###.",
        ],
        b'D' => [
            "###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###..",
        ],
        b'E' => [
            "#####", "#....", "#....", "####.", "#....", "#....", "#####",
        ],
        b'F' => [
            "#####", "#....", "#....", "####.", "#....", "#....", "#....",
        ],
        b'G' => [
            ".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####",
        ],
        b'H' => [
            "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
        b'J' => [
            "..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##..",
        ],
        b'K' => [
            "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#",
        ],
        b'M' => [
            "#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#",
        ],
        b'N' => [
            "#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#",
        ],
        b'P' => [
            "####.", "#...#", "#...#", "####.", "#....", "#....", "#....",
        ],
        b'Q' => [
            ".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#",
        ],
        b'R' => [
            "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#",
        ],
        b'S' => [
            ".####", "#....", "#....", ".###.", "....#", "....#", "####.",
        ],
        b'T' => [
            "#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..",
        ],
        b'U' => [
            "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.",
        ],
        b'V' => [
            "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#..",
        ],
        b'W' => [
            "#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#.",
        ],
        b'X' => [
            "#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#",
        ],
        b'Y' => [
            "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#..",
        ],
        b'Z' => [
            "#####", "....#", "...#.", "..#..", ".#...", "#....", "#####",
        ],
        _ => [
            ".....", ".....", ".....", ".....", ".....", ".....", ".....",
        ],
    }
}

fn ink(rows: &[&str; GLYPH_H], u: usize, v: usize) -> bool {
    rows[v].as_bytes().get(u) == Some(&b'#')
}

type Rgb = [u8; 3];

/// An RGB image being drawn.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(background: Rgb) -> Self {
        let pixels = background
            .iter()
            .copied()
            .cycle()
            .take((WIDTH * HEIGHT * 3) as usize)
            .collect();
        Canvas { pixels }
    }

    fn set(&mut self, x: i32, y: i32, colour: Rgb) {
        if x < 0 || y < 0 || x >= WIDTH as i32 || y >= HEIGHT as i32 {
            return;
        }
        let at = (y as usize * WIDTH as usize + x as usize) * 3;
        self.pixels[at..at + 3].copy_from_slice(&colour);
    }

    /// A line `thickness` pixels wide, by stepping along its longer axis.
    fn line(&mut self, from: (f32, f32), to: (f32, f32), thickness: i32, colour: Rgb) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as i32;
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            let (x, y) = (from.0 + dx * t, from.1 + dy * t);
            for k in 0..thickness {
                if dx.abs() >= dy.abs() {
                    self.set(x as i32, y as i32 + k, colour);
                } else {
                    self.set(x as i32 + k, y as i32, colour);
                }
            }
        }
    }

    fn encode(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(out)
    }
}

fn random_colour(rng: &mut impl Rng, lo: u8, hi: u8) -> Rgb {
    [
        rng.random_range(lo..=hi),
        rng.random_range(lo..=hi),
        rng.random_range(lo..=hi),
    ]
}

fn draw(answer: &str, rng: &mut impl Rng) -> Canvas {
    let mut canvas = Canvas::new(random_colour(rng, 225, 250));

    // Faint lines behind the text: they break up the background without
    // touching the contrast of the glyphs.
    for _ in 0..4 {
        let from = (
            rng.random_range(0.0..WIDTH as f32),
            rng.random_range(0.0..HEIGHT as f32),
        );
        let to = (
            rng.random_range(0.0..WIDTH as f32),
            rng.random_range(0.0..HEIGHT as f32),
        );
        let colour = random_colour(rng, 150, 200);
        canvas.line(from, to, 1, colour);
    }

    // Glyphs are drawn by inverse mapping: for each pixel near a glyph, find
    // the font cell it falls in after undoing scale and shear.
    let slot = (WIDTH as f32 - 20.0) / LENGTH as f32;
    for (i, c) in answer.bytes().enumerate() {
        let rows = glyph(c);
        let sx: f32 = rng.random_range(3.6..4.3);
        let sy: f32 = rng.random_range(4.0..4.8);
        let shear: f32 = rng.random_range(-0.3..0.3);
        let glyph_w = GLYPH_W as f32 * sx;
        let glyph_h = GLYPH_H as f32 * sy;
        let ox = 10.0 + slot * i as f32 + (slot - glyph_w) / 2.0 + rng.random_range(-2.5..2.5);
        let oy = rng.random_range(3.0..(HEIGHT as f32 - glyph_h - 3.0).max(3.5));
        let colour = random_colour(rng, 10, 110);
        let mid = glyph_h / 2.0;
        let lean = shear.abs() * mid + 1.0;
        for y in (oy.floor() as i32)..=((oy + glyph_h).ceil() as i32) {
            let dy = y as f32 + 0.5 - oy;
            for x in ((ox - lean).floor() as i32)..=((ox + glyph_w + lean).ceil() as i32) {
                let dx = x as f32 + 0.5 - ox - shear * (dy - mid);
                if dx < 0.0 || dy < 0.0 {
                    continue;
                }
                let (u, v) = ((dx / sx) as usize, (dy / sy) as usize);
                if u < GLYPH_W && v < GLYPH_H && ink(&rows, u, v) {
                    canvas.set(x, y, colour);
                }
            }
        }
    }

    // Lines through the text, lighter than the ink: a person reads past them,
    // while a naive segmenter sees the glyphs joined.
    for _ in 0..2 {
        let from = (
            rng.random_range(0.0..15.0),
            rng.random_range(10.0..HEIGHT as f32 - 10.0),
        );
        let to = (
            rng.random_range(WIDTH as f32 - 15.0..WIDTH as f32),
            rng.random_range(10.0..HEIGHT as f32 - 10.0),
        );
        let colour = random_colour(rng, 120, 175);
        canvas.line(from, to, 1, colour);
    }
    // A wave across the whole width.
    let amplitude: f32 = rng.random_range(4.0..9.0);
    let period: f32 = rng.random_range(40.0..90.0);
    let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let base: f32 = rng.random_range(18.0..32.0);
    let wave = random_colour(rng, 110, 170);
    let mut last = (0.0, base + amplitude * phase.sin());
    for x in 1..WIDTH {
        let y = base + amplitude * (x as f32 * std::f32::consts::TAU / period + phase).sin();
        canvas.line(last, (x as f32, y), 1, wave);
        last = (x as f32, y);
    }
    // Speckle.
    for _ in 0..180 {
        let x = rng.random_range(0..WIDTH as i32);
        let y = rng.random_range(0..HEIGHT as i32);
        let colour = random_colour(rng, 40, 220);
        canvas.set(x, y, colour);
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info, buf)
    }

    #[test]
    fn the_image_is_a_png_of_the_promised_size() {
        let captcha = Captcha::generate().unwrap();
        let (info, pixels) = decode(&captcha.png);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        // Something was drawn: the image is not one flat colour.
        assert!(pixels.chunks(3).any(|p| p != &pixels[..3]));
    }

    #[test]
    fn answers_use_the_unambiguous_alphabet() {
        for _ in 0..50 {
            let captcha = Captcha::generate().unwrap();
            assert_eq!(captcha.answer.len(), LENGTH);
            assert!(captcha.answer.bytes().all(|b| ALPHABET.contains(&b)));
        }
        for confusing in b"0O1IL" {
            assert!(!ALPHABET.contains(confusing));
        }
    }

    #[test]
    fn every_character_has_a_glyph() {
        for &c in ALPHABET {
            let rows = glyph(c);
            assert!(rows.iter().all(|r| r.len() == GLYPH_W), "{}", c as char);
            assert!(rows.iter().any(|r| r.contains('#')), "{}", c as char);
        }
        // No two glyphs are the same bitmap.
        for (i, &a) in ALPHABET.iter().enumerate() {
            for &b in &ALPHABET[i + 1..] {
                assert_ne!(glyph(a), glyph(b), "{} {}", a as char, b as char);
            }
        }
    }

    #[test]
    fn two_captchas_differ() {
        let (a, b) = (Captcha::generate().unwrap(), Captcha::generate().unwrap());
        assert_ne!(a.png, b.png);
        // Equal answers happen once in 31^5; three in a row means a broken generator.
        let c = Captcha::generate().unwrap();
        assert!(a.answer != b.answer || b.answer != c.answer);
    }

    #[test]
    fn matching_ignores_case_and_spaces_but_nothing_else() {
        assert!(answer_matches("AB3K7", "AB3K7"));
        assert!(answer_matches("AB3K7", " ab3k7 "));
        assert!(answer_matches("AB3K7", "ab 3k7"));
        assert!(!answer_matches("AB3K7", "AB3K"));
        assert!(!answer_matches("AB3K7", "AB3K77"));
        assert!(!answer_matches("AB3K7", "AB3K8"));
        assert!(!answer_matches("", ""));
        assert!(!answer_matches("AB3K7", ""));
    }

    #[test]
    fn debug_does_not_show_the_answer() {
        let captcha = Captcha {
            answer: "K7M2Q".into(),
            png: vec![0; 10],
        };
        assert!(!format!("{captcha:?}").contains("K7M2Q"));
    }
}
