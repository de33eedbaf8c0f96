//! Shipping labels (FUL-1, S 8.2.3): one per package, 100 × 150 mm at
//! 203 dpi (the common thermal label), with the order number, the recipient
//! masked, the items, the delivery window and a QR code of the package's
//! public traceability page.
//!
//! The label is drawn once into an 8-bit grey canvas (thermal printers print
//! black or nothing; grey keeps anti-aliased text and is a third the size of
//! RGB). The PNG is that canvas; the PDF wraps the PNG's own compressed
//! pixels as an image XObject (FlateDecode with the PNG predictor), so both
//! formats show the same pixels and the text is shaped once. Text comes from
//! a TrueType font with Chinese glyphs; without one the label still prints,
//! in ASCII from a built-in bitmap font.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use qrcode::{Color, EcLevel, QrCode};

use super::glyphs;

/// 100 × 150 mm at 203 dpi.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 1200;
/// The page size in PDF points (1/72 inch).
const PAGE_W_PT: f64 = 100.0 / 25.4 * 72.0;
const PAGE_H_PT: f64 = 150.0 / 25.4 * 72.0;
const MARGIN: i32 = 32;

/// Where Chinese fonts usually are on Debian, Ubuntu, Fedora and Alpine.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// Only a bug in the drawing code can make encoding fail.
    #[error("cannot encode the label: {0}")]
    Encode(#[from] png::EncodingError),
    /// The trace URL does not fit a QR code (it is far too long).
    #[error("cannot make the QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
}

/// The font labels are written in, if one was found.
pub struct LabelFont {
    font: Option<FontVec>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for LabelFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelFont")
            .field("path", &self.path)
            .finish()
    }
}

impl LabelFont {
    /// The configured font, else the first usual one that loads. Never
    /// fails: without a font labels print ASCII, and a warning says why.
    pub fn load(configured: &str) -> LabelFont {
        let configured = configured.trim();
        let candidates: Vec<&str> = if configured.is_empty() {
            FONT_CANDIDATES.to_vec()
        } else {
            vec![configured]
        };
        for path in candidates {
            if let Some(font) = Self::open(Path::new(path)) {
                tracing::info!(font = path, "label font loaded");
                return font;
            }
        }
        tracing::warn!(
            configured,
            "no font with Chinese glyphs found for labels (install fonts-wqy-microhei or set \
             labels.font_path); labels will print ASCII only"
        );
        LabelFont::none()
    }

    fn open(path: &Path) -> Option<LabelFont> {
        let bytes = std::fs::read(path).ok()?;
        match FontVec::try_from_vec_and_index(bytes, 0) {
            Ok(font) => Some(LabelFont {
                font: Some(font),
                path: Some(path.to_path_buf()),
            }),
            Err(e) => {
                tracing::warn!(font = %path.display(), error = %e, "not a usable font");
                None
            }
        }
    }

    /// No font: the built-in ASCII bitmap font only.
    pub fn none() -> LabelFont {
        LabelFont {
            font: None,
            path: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether Chinese text prints (otherwise headings switch to English).
    pub fn has_chinese(&self) -> bool {
        self.font
            .as_ref()
            .is_some_and(|f| f.glyph_id('订').0 != 0 && f.glyph_id('单').0 != 0)
    }
}

/// A line of the package.
#[derive(Debug, Clone)]
pub struct LabelItem {
    pub name: String,
    pub quantity: i64,
    /// Picked weight, else the estimate, for goods sold by weight.
    pub weight_g: Option<i64>,
}

/// Everything printed on one package's label.
#[derive(Debug, Clone)]
pub struct LabelData {
    pub order_number: String,
    pub package_no: i64,
    pub packages: i64,
    pub shop: String,
    /// Already masked.
    pub recipient_name: String,
    /// Already masked.
    pub recipient_phone: String,
    pub address: String,
    /// e.g. `2026-11-25 08:00–09:00`.
    pub window: String,
    pub items: Vec<LabelItem>,
    /// e.g. `冷藏 0–4 ℃` / `chilled 0–4 ℃`, for goods with a cold chain.
    pub cold_chain: Option<String>,
    pub trace_url: String,
}

/// The recipient's name as a label shows it: the first character, then `*`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

/// An 8-bit grey image being drawn: 255 paper, 0 ink.
struct Canvas {
    w: i32,
    h: i32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Canvas {
        Canvas {
            w: w as i32,
            h: h as i32,
            px: vec![255; (w * h) as usize],
        }
    }

    /// Darkens a pixel by `coverage` (0–1) of ink.
    fn ink(&mut self, x: i32, y: i32, coverage: f32) {
        if x < 0 || y < 0 || x >= self.w || y >= self.h {
            return;
        }
        let i = (y * self.w + x) as usize;
        let paper = f32::from(self.px[i]);
        self.px[i] = (paper * (1.0 - coverage.clamp(0.0, 1.0))) as u8;
    }

    fn fill(&mut self, x: i32, y: i32, w: i32, h: i32) {
        for yy in y.max(0)..(y + h).min(self.h) {
            for xx in x.max(0)..(x + w).min(self.w) {
                self.px[(yy * self.w + xx) as usize] = 0;
            }
        }
    }

    fn rule(&mut self, y: i32, thickness: i32) {
        self.fill(MARGIN, y, self.w - 2 * MARGIN, thickness);
    }
}

/// Writes text with the font, or the bitmap font when there is none.
struct Pen<'a> {
    font: Option<&'a FontVec>,
}

impl Pen<'_> {
    /// The characters to draw: signs the font lacks become their plain
    /// spelling (`℃` → `°C`, `−` → `-`); without a font, ASCII ones.
    fn chars(&self, text: &str) -> Vec<char> {
        let has = |c: char| self.font.is_some_and(|f| f.glyph_id(c).0 != 0);
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            match c {
                _ if has(c) || (self.font.is_none() && c.is_ascii()) => out.push(c),
                '℃' if has('°') => out.extend(['°', 'C']),
                '℃' => out.push('C'),
                '−' | '–' | '—' => out.push('-'),
                '…' => out.extend(['.', '.', '.']),
                '·' => out.push('-'),
                '×' if self.font.is_none() => out.push('×'),
                '×' => out.push('x'),
                _ => out.push(c),
            }
        }
        out
    }

    /// Width of `text` at `px`.
    fn width(&self, text: &str, px: f32) -> f32 {
        let chars = self.chars(text);
        match self.font {
            Some(font) => {
                let scaled = font.as_scaled(PxScale::from(px));
                chars
                    .iter()
                    .map(|c| scaled.h_advance(font.glyph_id(*c)))
                    .sum()
            }
            None => chars.len() as f32 * bitmap_advance(px),
        }
    }

    /// Draws one line with its top at `top`; returns the line height.
    fn line(&self, canvas: &mut Canvas, x: i32, top: i32, text: &str, px: f32) -> i32 {
        let line_height = (px * 1.3).ceil() as i32;
        match self.font {
            Some(font) => {
                let scale = PxScale::from(px);
                let scaled = font.as_scaled(scale);
                let baseline = top as f32 + scaled.ascent();
                let mut caret = x as f32;
                for c in self.chars(text) {
                    let id = font.glyph_id(c);
                    let glyph = id.with_scale_and_position(scale, point(caret, baseline));
                    caret += scaled.h_advance(id);
                    if id.0 == 0 && !c.is_whitespace() {
                        // No glyph: a hollow box, so the gap is visible.
                        let (bx, by, bw, bh) = (
                            caret as i32 - (px * 0.8) as i32,
                            top + (px * 0.2) as i32,
                            (px * 0.6) as i32,
                            (px * 0.8) as i32,
                        );
                        canvas.fill(bx, by, bw, 2);
                        canvas.fill(bx, by + bh - 2, bw, 2);
                        canvas.fill(bx, by, 2, bh);
                        canvas.fill(bx + bw - 2, by, 2, bh);
                        continue;
                    }
                    if let Some(outlined) = font.outline_glyph(glyph) {
                        let bounds = outlined.px_bounds();
                        outlined.draw(|gx, gy, coverage| {
                            canvas.ink(
                                bounds.min.x as i32 + gx as i32,
                                bounds.min.y as i32 + gy as i32,
                                coverage,
                            );
                        });
                    }
                }
            }
            None => {
                let cell = bitmap_cell(px);
                let mut caret = x;
                for c in self.chars(text) {
                    let c = if c.is_ascii() || c == '×' { c } else { '?' };
                    for v in 0..glyphs::HEIGHT {
                        for u in 0..glyphs::WIDTH {
                            if glyphs::ink(c, u, v) {
                                canvas.fill(
                                    caret + u as i32 * cell,
                                    top + v as i32 * cell,
                                    cell,
                                    cell,
                                );
                            }
                        }
                    }
                    caret += bitmap_advance(px) as i32;
                }
            }
        }
        line_height
    }

    /// Draws `text` wrapped to `width`, at most `max_lines` lines (the last
    /// ends in `…` when cut); returns the height used.
    #[allow(clippy::too_many_arguments)]
    fn paragraph(
        &self,
        canvas: &mut Canvas,
        x: i32,
        top: i32,
        width: i32,
        text: &str,
        px: f32,
        max_lines: usize,
    ) -> i32 {
        let mut lines: Vec<String> = vec![String::new()];
        for c in text.chars() {
            let Some(current) = lines.last_mut() else {
                break;
            };
            let mut candidate = current.clone();
            candidate.push(c);
            if self.width(&candidate, px) > width as f32 && !current.is_empty() {
                lines.push(c.to_string());
            } else {
                *current = candidate;
            }
        }
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            if let Some(last) = lines.last_mut() {
                last.pop();
                last.push('…');
            }
        }
        let mut y = top;
        for line in &lines {
            y += self.line(canvas, x, y, line, px);
        }
        y - top
    }
}

fn bitmap_cell(px: f32) -> i32 {
    ((px * 0.7) / glyphs::HEIGHT as f32).round().max(1.0) as i32
}

fn bitmap_advance(px: f32) -> f32 {
    (bitmap_cell(px) * (glyphs::WIDTH as i32 + 1)) as f32
}

/// Draws the label into a grey canvas.
fn draw(data: &LabelData, font: &LabelFont) -> Result<Canvas, LabelError> {
    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let pen = Pen {
        font: font.font.as_ref(),
    };
    let zh = font.has_chinese();
    let say = |zh_text: &str, en_text: &str| {
        if zh {
            zh_text.to_string()
        } else {
            en_text.to_string()
        }
    };
    let inner = WIDTH as i32 - 2 * MARGIN;
    let mut y = MARGIN;

    // Header: brand, package count, order number large.
    pen.line(&mut canvas, MARGIN, y, &say("市集 Shiji", "SHIJI"), 34.0);
    let package = format!(
        "{} {}/{}",
        say("包裹", "PKG"),
        data.package_no,
        data.packages
    );
    let pw = pen.width(&package, 34.0) as i32;
    pen.line(&mut canvas, WIDTH as i32 - MARGIN - pw, y, &package, 34.0);
    y += 52;
    canvas.rule(y, 4);
    y += 16;
    pen.line(&mut canvas, MARGIN, y, &say("订单号", "ORDER"), 26.0);
    y += 36;
    y += pen.paragraph(&mut canvas, MARGIN, y, inner, &data.order_number, 60.0, 1);
    y += 8;
    canvas.rule(y, 2);
    y += 16;

    // Recipient, masked; the address in full, which the courier needs.
    pen.line(&mut canvas, MARGIN, y, &say("收件人", "TO"), 26.0);
    y += 36;
    let who = format!("{}  {}", data.recipient_name, data.recipient_phone);
    y += pen.line(&mut canvas, MARGIN, y, &who, 44.0);
    y += pen.paragraph(&mut canvas, MARGIN, y, inner, &data.address, 32.0, 2);
    y += 8;
    let window = format!("{} {}", say("送达时间", "DELIVER"), data.window);
    y += pen.line(&mut canvas, MARGIN, y, &window, 30.0);
    if let Some(cold) = &data.cold_chain {
        // Reversed out so the handler sees it at a glance.
        let text = format!("{} {}", say("冷链", "COLD CHAIN"), cold);
        let w = pen.width(&text, 32.0) as i32 + 24;
        canvas.fill(MARGIN, y + 4, w, 48);
        let mut white = Canvas::new(w as u32, 48);
        pen.line(&mut white, 12, 6, &text, 32.0);
        for yy in 0..48 {
            for xx in 0..w {
                let ink = 255 - white.px[(yy * w + xx) as usize];
                let i = ((y + 4 + yy) * canvas.w + MARGIN + xx) as usize;
                if let Some(p) = canvas.px.get_mut(i) {
                    *p = ink;
                }
            }
        }
        y += 60;
    }
    y += 8;
    canvas.rule(y, 2);
    y += 14;

    // Items, as many as fit above the QR code.
    let shop = format!("{} {}", say("商户", "SHOP"), data.shop);
    y += pen.paragraph(&mut canvas, MARGIN, y, inner, &shop, 28.0, 1);
    y += 4;
    let qr_top = HEIGHT as i32 - MARGIN - 360;
    let row = 40;
    let room = ((qr_top - 16 - y) / row).max(1) as usize;
    let shown = if data.items.len() > room {
        room - 1
    } else {
        data.items.len()
    };
    for item in &data.items[..shown] {
        let mut right = format!("×{}", item.quantity);
        if let Some(g) = item.weight_g {
            right = format!("{right}  {:.2} kg", g as f64 / 1000.0);
        }
        let rw = pen.width(&right, 30.0) as i32;
        pen.paragraph(&mut canvas, MARGIN, y, inner - rw - 16, &item.name, 30.0, 1);
        pen.line(&mut canvas, WIDTH as i32 - MARGIN - rw, y, &right, 30.0);
        y += row;
    }
    if shown < data.items.len() {
        let more = data.items.len() - shown;
        let text = if zh {
            format!("…另 {more} 项")
        } else {
            format!("... {more} MORE")
        };
        pen.line(&mut canvas, MARGIN, y, &text, 30.0);
    }

    // The QR code of the trace page, bottom left, with a quiet zone of 4 modules.
    canvas.rule(qr_top - 8, 2);
    let code = QrCode::with_error_correction_level(data.trace_url.as_bytes(), EcLevel::M)?;
    let modules = code.width() as i32;
    let size = 340;
    let scale = (size / (modules + 8)).max(1);
    let origin_x = MARGIN + (size - scale * modules) / 2;
    let origin_y = qr_top + 8 + (size - scale * modules) / 2;
    for (i, colour) in code.to_colors().into_iter().enumerate() {
        if colour == Color::Dark {
            let (mx, my) = (i as i32 % modules, i as i32 / modules);
            canvas.fill(origin_x + mx * scale, origin_y + my * scale, scale, scale);
        }
    }
    let text_x = MARGIN + size + 16;
    let text_w = WIDTH as i32 - MARGIN - text_x;
    let mut ty = qr_top + 40;
    ty += pen.paragraph(
        &mut canvas,
        text_x,
        ty,
        text_w,
        &say("扫码查看溯源信息", "SCAN TO TRACE"),
        30.0,
        2,
    );
    ty += 8;
    ty += pen.paragraph(
        &mut canvas,
        text_x,
        ty,
        text_w,
        &say("产地 · 资质 · 称重 · 冷链", "ORIGIN, LICENCES, WEIGHT"),
        24.0,
        2,
    );
    ty += 16;
    pen.paragraph(&mut canvas, text_x, ty, text_w, &data.trace_url, 20.0, 6);
    Ok(canvas)
}

fn encode_png(canvas: &Canvas) -> Result<Vec<u8>, LabelError> {
    let mut out = Vec::with_capacity(64 * 1024);
    {
        let mut encoder = png::Encoder::new(&mut out, canvas.w as u32, canvas.h as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        // 203 dpi = 7992 pixels per metre, so printers print it at size.
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 7992,
            yppu: 7992,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&canvas.px)?;
        writer.finish()?;
    }
    Ok(out)
}

/// The label of one package as a PNG.
pub fn render_png(data: &LabelData, font: &LabelFont) -> Result<Vec<u8>, LabelError> {
    encode_png(&draw(data, font)?)
}

/// Labels as a PDF, one page per label (PNGs from [`render_png`]).
pub fn render_pdf(pngs: &[Vec<u8>]) -> Vec<u8> {
    let images: Vec<(u32, u32, Vec<u8>)> = pngs.iter().filter_map(|p| idat(p)).collect();
    pdf(&images)
}

/// Width, height and the concatenated IDAT data (one zlib stream) of a
/// PNG written by [`encode_png`]: 8-bit grey, not interlaced.
fn idat(png_bytes: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let mut at = 8;
    let (mut w, mut h) = (0, 0);
    let mut data = Vec::new();
    while at + 8 <= png_bytes.len() {
        let len = u32::from_be_bytes(png_bytes[at..at + 4].try_into().ok()?) as usize;
        let kind = &png_bytes[at + 4..at + 8];
        let body = png_bytes.get(at + 8..at + 8 + len)?;
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?);
                h = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
            }
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    (w > 0 && h > 0 && !data.is_empty()).then_some((w, h, data))
}

/// A minimal PDF 1.4: catalogue, page tree, and per label a page whose
/// content draws its image over the whole 100 × 150 mm page.
fn pdf(images: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe5\xb8\x82\xe9\x9b\x86\n".to_vec();
    let mut offsets: Vec<usize> = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    // Objects: 1 catalogue, 2 pages, then per page: page, content, image.
    let kids: Vec<String> = (0..images.len())
        .map(|i| format!("{} 0 R", 3 + 3 * i))
        .collect();
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(
        &mut out,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            images.len()
        )
        .as_bytes(),
    );
    for (i, (w, h, data)) in images.iter().enumerate() {
        let page = 3 + 3 * i;
        object(
            &mut out,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W_PT:.2} {PAGE_H_PT:.2}] \
                 /Resources << /XObject << /Im0 {} 0 R >> >> /Contents {} 0 R >>",
                page + 2,
                page + 1
            )
            .as_bytes(),
        );
        let content = format!("q {PAGE_W_PT:.2} 0 0 {PAGE_H_PT:.2} 0 0 cm /Im0 Do Q");
        object(
            &mut out,
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            )
            .as_bytes(),
        );
        let mut image = format!(
            "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray \
             /BitsPerComponent 8 /Filter /FlateDecode \
             /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns {w} >> \
             /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        image.extend_from_slice(data);
        image.extend_from_slice(b"\nendstream");
        object(&mut out, &image);
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n", offsets.len() + 1).as_bytes());
    out.extend_from_slice(b"0000000000 65535 f \n");
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabelData {
        LabelData {
            order_number: "QJ20261125-000123".into(),
            package_no: 1,
            packages: 2,
            shop: "潜江虾王".into(),
            recipient_name: mask_name("王小明"),
            recipient_phone: crate::accounts::identity_documents::mask_phone("13812345678"),
            address: "湖北省潜江市园林街道章华南路 1 号 3 栋 502 室".into(),
            window: "2026-11-25 08:00–09:00".into(),
            items: (0..30)
                .map(|i| LabelItem {
                    name: format!("潜江清水小龙虾 {i}"),
                    quantity: 2,
                    weight_g: (i % 2 == 0).then_some(850),
                })
                .collect(),
            cold_chain: Some("冷藏 0–4 ℃".into()),
            trace_url: "https://shiji.example/t/abcdefghijklmnop".into(),
        }
    }

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn names_are_masked_to_their_first_character() {
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("李"), "李*");
        assert_eq!(mask_name(" Alice "), "A****");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn a_label_without_a_font_still_prints_with_its_qr_code() {
        let png_bytes = render_png(&sample(), &LabelFont::none()).unwrap();
        let (info, pixels) = decode(&png_bytes);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let ink = pixels.iter().filter(|p| **p < 128).count();
        assert!(ink > 10_000, "ink drawn: {ink}");
        let mut img =
            rqrr::PreparedImage::prepare_from_greyscale(WIDTH as usize, HEIGHT as usize, |x, y| {
                pixels[y * WIDTH as usize + x]
            });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, "https://shiji.example/t/abcdefghijklmnop");
    }

    fn find(hay: &[u8], needle: &str, from: usize) -> usize {
        from + hay[from..]
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("no {needle:?} after {from}"))
    }

    fn number_after(hay: &[u8], at: usize) -> usize {
        let digits: String = hay[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        digits.parse().unwrap()
    }

    #[test]
    fn the_pdf_is_well_formed_and_wraps_the_png_pixels() {
        let png_bytes = render_png(&sample(), &LabelFont::none()).unwrap();
        let pdf = render_pdf(&[png_bytes.clone(), png_bytes]);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        // Only the headers are text; image data is binary.
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(text.matches("/Type /Page ").count(), 2);
        assert!(text.contains("/Count 2"));
        assert_eq!(
            text.matches(&format!("/Width {WIDTH} /Height {HEIGHT}"))
                .count(),
            2
        );
        // Every xref entry points at its object.
        let start = number_after(&pdf, find(&pdf, "startxref\n", 0) + 10);
        assert!(pdf[start..].starts_with(b"xref\n0 9\n0000000000 65535 f \n"));
        for n in 1..=8 {
            let entry = start + 10 + 20 * n;
            let offset = number_after(&pdf, entry);
            assert!(
                pdf[offset..].starts_with(format!("{n} 0 obj").as_bytes()),
                "object {n}"
            );
        }
        // Each image stream's /Length is its byte count.
        let image_at = find(&pdf, "/Subtype /Image", 0);
        let length = number_after(&pdf, find(&pdf, "/Length ", image_at) + 8);
        let data_at = find(&pdf, "stream\n", image_at) + 7;
        assert_eq!(
            &pdf[data_at + length..data_at + length + 10],
            b"\nendstream"
        );
    }

    #[test]
    fn chinese_text_prints_when_a_font_is_installed() {
        let font = LabelFont::load("");
        assert!(
            font.path().is_some() && font.has_chinese(),
            "no Chinese font: `apt-get install fonts-wqy-microhei` (cargo xtask test does)"
        );
        let png_bytes = render_png(&sample(), &font).unwrap();
        // To look at one: SHIJI_TEST_LABEL_OUT=/tmp/label.png cargo test … chinese_text
        if let Ok(out) = std::env::var("SHIJI_TEST_LABEL_OUT") {
            std::fs::write(out, &png_bytes).unwrap();
        }
        let (_, pixels) = decode(&png_bytes);
        let plain = render_png(&sample(), &LabelFont::none()).unwrap();
        assert_ne!(pixels, decode(&plain).1, "the font was used");
    }
}
