//! The public traceability page behind a label's QR code (FUL-3): who sold
//! the goods, where they come from, the merchant's qualification documents
//! (numbers masked), when each line was picked and what it weighed, and the
//! cold-chain readings on the way.
//!
//! Anyone holding the package can scan the code, so the page carries nothing
//! personal: no recipient, phone, address, account or order id, and no
//! tracking locations (a courier's last location is the customer's door).
//! Only the unguessable code leads to it.

use super::tracking::{self, ColdChain};
use super::{Fulfilment, local_time};
use crate::i18n::Locale;
use crate::merchants::qualification;
use crate::service_error::ServiceError;
use crate::store::fulfilment::{self as rows, TracedLineRow};
use crate::store::onboarding;
use crate::store::orders as order_rows;

/// A qualification document as the public sees it.
#[derive(Debug, Clone)]
pub struct PublicDocument {
    pub doc_type: String,
    pub masked_number: String,
    pub issuer: String,
    pub valid_from: String,
    pub valid_to: String,
    pub expiring: bool,
}

/// A temperature reading as the public sees it: when, how warm, in band or not.
#[derive(Debug, Clone)]
pub struct Reading {
    pub at: i64,
    pub temperature_c10: i64,
    pub breach: bool,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct TraceView {
    pub shop: String,
    pub package_no: i64,
    pub packages: i64,
    pub lines: Vec<TracedLineRow>,
    pub packed_at: Option<i64>,
    pub documents: Vec<PublicDocument>,
    pub readings: Vec<Reading>,
    /// The bands of the package's goods, as text.
    pub bands: Vec<(ColdChain, String)>,
}

impl Fulfilment {
    /// The page of a trace code; `None` for a code nobody issued.
    pub async fn trace(&self, code: &str) -> Result<Option<TraceView>, ServiceError> {
        if !super::plausible_code(code) {
            return Ok(None);
        }
        let Some(found) = rows::find_code(&self.store, code).await? else {
            return Ok(None);
        };
        let parts = order_rows::parts_of(&self.store, &found.order_id).await?;
        let Some(part) = parts.iter().find(|p| p.id == found.part_id) else {
            return Ok(None);
        };
        let lines = rows::traced_lines(&self.store, &part.id).await?;
        let shop = rows::shop_name(&self.store, &part.merchant_id)
            .await?
            .unwrap_or_default();
        let documents = onboarding::documents(&self.store, &part.merchant_id)
            .await?
            .into_iter()
            .filter(|d| d.flag != "expired")
            .map(|d| PublicDocument {
                masked_number: qualification::mask(&d.number),
                expiring: d.flag == "expiring",
                doc_type: d.doc_type,
                issuer: d.issuer,
                valid_from: d.valid_from,
                valid_to: d.valid_to,
            })
            .collect();
        let packed_at = order_rows::events_of(&self.store, &found.order_id)
            .await?
            .iter()
            .find(|e| e.status == super::status::PACKED)
            .map(|e| e.at);
        let readings = rows::tracking_of(&self.store, &found.order_id)
            .await?
            .into_iter()
            .filter_map(|t| {
                t.temperature_c10.map(|c10| Reading {
                    at: t.at,
                    temperature_c10: c10,
                    breach: t.breach,
                })
            })
            .collect();
        let mut bands: Vec<(ColdChain, String)> = Vec::new();
        for line in &lines {
            if let Some(band) = ColdChain::parse(&line.cold_chain)
                && let Some(limits) = band.band(&self.cold_chain)
                && !bands.iter().any(|(b, _)| *b == band)
            {
                bands.push((band, tracking::describe(limits)));
            }
        }
        Ok(Some(TraceView {
            shop,
            package_no: found.package_no,
            packages: parts.len() as i64,
            lines,
            packed_at,
            documents,
            readings,
            bands,
        }))
    }
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn t(locale: Locale, en: &'static str, zh: &'static str) -> &'static str {
    match locale {
        Locale::En => en,
        Locale::ZhCn => zh,
    }
}

fn document_name(doc_type: &str, locale: Locale) -> String {
    let (en, zh) = match doc_type {
        "business_licence" => ("Business licence", "营业执照"),
        "health_certificate" => ("Health certificate", "健康证明"),
        "food_business_licence" => ("Food business licence", "食品经营许可证"),
        "food_production_licence" => ("Food production licence", "食品生产许可证"),
        "origin_proof" => ("Proof of origin", "产地证明"),
        "purchase_receipt" => ("Purchase receipt", "进货凭证"),
        "breeding_certificate" => ("Breeding certificate", "养殖证明"),
        "epidemic_prevention_certificate" => {
            ("Animal epidemic prevention certificate", "动物防疫合格证")
        }
        "designated_slaughter_certificate" => ("Designated slaughter certificate", "定点屠宰证"),
        "meat_inspection_certificate" => ("Meat inspection certificate", "肉品品质检验合格证"),
        other => (other, other),
    };
    match locale {
        Locale::En => en.to_string(),
        Locale::ZhCn => zh.to_string(),
    }
}

fn celsius(c10: i64) -> String {
    format!("{:.1} ℃", c10 as f64 / 10.0).replace('-', "−")
}

fn weight(grams: i64) -> String {
    if grams >= 1000 {
        format!("{:.2} kg", grams as f64 / 1000.0)
    } else {
        format!("{grams} g")
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;\
margin:0 auto;max-width:40rem;padding:1rem;color:#1b1b1b;line-height:1.5}\
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #eee;vertical-align:top}\
.muted{color:#666;font-size:.9rem}.breach{color:#b00020;font-weight:600}.ok{color:#1b7f3b}\
nav{float:right;font-size:.9rem}";

/// The page in `locale`, every text escaped.
pub fn render(view: &TraceView, code: &str, locale: Locale) -> String {
    let tr = |en, zh| t(locale, en, zh);
    let mut h = String::with_capacity(8 * 1024);
    let title = view
        .lines
        .first()
        .map(|l| l.product_name.as_str())
        .unwrap_or_default();
    let other = match locale {
        Locale::En => ("zh", "中文"),
        Locale::ZhCn => ("en", "English"),
    };
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{} · {}</title><style>{STYLE}</style></head><body>",
        locale.tag(),
        escape(tr("Traceability", "产品溯源")),
        escape(title),
    ));
    h.push_str(&format!(
        "<nav><a href=\"/t/{}?lang={}\">{}</a></nav>",
        escape(code),
        other.0,
        other.1
    ));
    h.push_str(&format!(
        "<p class=\"muted\">{}</p><h1>{}</h1>",
        escape(tr("Shiji traceability", "市集 · 产品溯源")),
        escape(&view.shop)
    ));
    h.push_str(&format!(
        "<p class=\"muted\">{} {}/{}</p>",
        escape(tr("Package", "包裹")),
        view.package_no,
        view.packages
    ));

    // The goods: origin, picking time and weight.
    h.push_str(&format!(
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        escape(tr("Goods", "商品")),
        escape(tr("Product", "商品")),
        escape(tr("Origin", "产地")),
        escape(tr("Picked", "拣货时间")),
        escape(tr("Weight", "重量")),
    ));
    for line in &view.lines {
        let origin = [
            line.origin_province.as_str(),
            line.origin_city.as_str(),
            line.origin_county.as_str(),
        ]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
        let picked = line.picked_at.map(local_time).unwrap_or_else(|| "—".into());
        let weighed = match (line.picked_weight_g, line.estimated_weight_g) {
            (Some(g), _) => weight(g),
            (None, Some(g)) if line.sold_by_weight => {
                format!("{} {}", tr("about", "约"), weight(g))
            }
            _ => "—".into(),
        };
        h.push_str(&format!(
            "<tr><td>{} <span class=\"muted\">{} · {} ×{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&line.product_name),
            escape(&line.specification),
            escape(&line.variant_name),
            line.quantity,
            escape(&origin),
            escape(&picked),
            escape(&weighed),
        ));
    }
    h.push_str("</table>");
    if let Some(at) = view.packed_at {
        h.push_str(&format!(
            "<p class=\"muted\">{} {}</p>",
            escape(tr("Packed", "打包时间")),
            escape(&local_time(at))
        ));
    }

    // The merchant's documents, numbers masked.
    h.push_str(&format!(
        "<h2>{}</h2>",
        escape(tr("Qualification documents", "资质证照"))
    ));
    if view.documents.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>",
            escape(tr("None on file.", "暂无公示证照。"))
        ));
    } else {
        h.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            escape(tr("Document", "证照")),
            escape(tr("Number", "编号")),
            escape(tr("Issued by", "发证机关")),
            escape(tr("Valid", "有效期")),
        ));
        for d in &view.documents {
            let expiring = if d.expiring {
                format!(
                    " <span class=\"breach\">{}</span>",
                    escape(tr("expiring soon", "即将到期"))
                )
            } else {
                String::new()
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} – {}{expiring}</td></tr>",
                escape(&document_name(&d.doc_type, locale)),
                escape(&d.masked_number),
                escape(&d.issuer),
                escape(&d.valid_from),
                escape(&d.valid_to),
            ));
        }
        h.push_str("</table>");
    }

    // The cold chain.
    h.push_str(&format!(
        "<h2>{}</h2>",
        escape(tr("Cold chain", "冷链温度"))
    ));
    if !view.bands.is_empty() {
        let bands: Vec<String> = view
            .bands
            .iter()
            .map(|(b, text)| format!("{} {}", b.name().pick(locale), text))
            .collect();
        h.push_str(&format!(
            "<p>{} {}</p>",
            escape(tr("Kept at:", "储运温度：")),
            escape(&bands.join(" / "))
        ));
    }
    if view.readings.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>",
            escape(tr("No readings recorded.", "暂无温度记录。"))
        ));
    } else {
        h.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th></th></tr>",
            escape(tr("Time", "时间")),
            escape(tr("Temperature", "温度")),
        ));
        for r in &view.readings {
            let verdict = if r.breach {
                format!(
                    "<span class=\"breach\">{}</span>",
                    escape(tr("outside band", "超出范围"))
                )
            } else {
                format!(
                    "<span class=\"ok\">{}</span>",
                    escape(tr("in band", "正常"))
                )
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
                escape(&local_time(r.at)),
                escape(&celsius(r.temperature_c10)),
            ));
        }
        h.push_str("</table>");
    }
    h.push_str(&format!(
        "<p class=\"muted\">{}</p></body></html>\n",
        escape(tr(
            "Times are China Standard Time. This page shows no personal data.",
            "时间为北京时间。本页不含任何个人信息。"
        ))
    ));
    h
}

/// The page for a code nobody issued.
pub fn not_found(locale: Locale) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><p>{}</p></body></html>\n",
        locale.tag(),
        escape(t(locale, "Not found", "未找到")),
        escape(t(locale, "No such trace code", "溯源码不存在")),
        escape(t(
            locale,
            "Check the code on the label and scan it again.",
            "请核对面单上的二维码后重新扫描。"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> TraceView {
        TraceView {
            shop: "<虾王> & Co".into(),
            package_no: 1,
            packages: 1,
            lines: vec![TracedLineRow {
                product_name: "潜江清水小龙虾<script>".into(),
                variant_name: "5斤装".into(),
                quantity: 2,
                sold_by_weight: true,
                estimated_weight_g: Some(1000),
                picked_weight_g: Some(850),
                picked_at: Some(0),
                specification: "4-6两/只".into(),
                origin_province: "湖北".into(),
                origin_city: "潜江".into(),
                origin_county: "潜江市".into(),
                cold_chain: "chilled".into(),
            }],
            packed_at: Some(60_000),
            documents: vec![PublicDocument {
                doc_type: "business_licence".into(),
                masked_number: qualification::mask("91320505MA1X2Y3Z4K"),
                issuer: "潜江市市场监督管理局".into(),
                valid_from: "2024-01-01".into(),
                valid_to: "2034-01-01".into(),
                expiring: false,
            }],
            readings: vec![
                Reading {
                    at: 0,
                    temperature_c10: 25,
                    breach: false,
                },
                Reading {
                    at: 1,
                    temperature_c10: -185,
                    breach: true,
                },
            ],
            bands: vec![(ColdChain::Chilled, "0–4 ℃".into())],
        }
    }

    #[test]
    fn the_page_escapes_every_text_and_speaks_both_languages() {
        let zh = render(&view(), "abcdefghijklmnop", Locale::ZhCn);
        assert!(zh.contains("&lt;虾王&gt; &amp; Co"), "{zh}");
        assert!(!zh.contains("<script>"));
        assert!(zh.contains("湖北 潜江 潜江市") && zh.contains("850 g"));
        assert!(zh.contains("91**************4K") && !zh.contains("91320505MA1X2Y3Z4K"));
        assert!(zh.contains("2.5 ℃") && zh.contains("−18.5 ℃") && zh.contains("超出范围"));
        assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("营业执照"));
        let en = render(&view(), "abcdefghijklmnop", Locale::En);
        assert!(en.contains("Business licence") && en.contains("outside band"));
        assert!(en.contains("1970-01-01 08:00"));
        assert!(not_found(Locale::ZhCn).contains("溯源码不存在"));
    }
}
