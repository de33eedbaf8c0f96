//! User-facing text in the two languages Shiji ships: Simplified Chinese and English.
//!
//! Frontends choose with `Accept-Language`; anything that is not Chinese gets
//! English. Codes, identifiers and logs stay English; only messages a person
//! reads go through here.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    ZhCn,
}

impl Locale {
    /// Picks the first language in an `Accept-Language` header that Shiji speaks.
    pub fn from_accept_language(header: Option<&str>) -> Locale {
        let Some(header) = header else {
            return Locale::En;
        };
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((q, tag))
            })
            .collect();
        // Stable sort keeps the client's order among equal weights.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in ranked {
            let tag = tag.to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Locale::ZhCn;
            }
            if tag.starts_with("en") {
                return Locale::En;
            }
        }
        Locale::En
    }

    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }
}

/// A message in both languages; `pick` chooses by locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub en: &'static str,
    pub zh_cn: &'static str,
}

impl Text {
    pub const fn new(en: &'static str, zh_cn: &'static str) -> Self {
        Self { en, zh_cn }
    }

    pub fn pick(self, locale: Locale) -> &'static str {
        match locale {
            Locale::En => self.en,
            Locale::ZhCn => self.zh_cn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_chosen_by_weight_and_anything_else_is_english() {
        assert_eq!(Locale::from_accept_language(None), Locale::En);
        assert_eq!(
            Locale::from_accept_language(Some("zh-CN,zh;q=0.9")),
            Locale::ZhCn
        );
        assert_eq!(Locale::from_accept_language(Some("zh-Hans")), Locale::ZhCn);
        assert_eq!(
            Locale::from_accept_language(Some("en;q=0.5, zh-CN;q=0.8")),
            Locale::ZhCn
        );
        assert_eq!(
            Locale::from_accept_language(Some("fr, en;q=0.1")),
            Locale::En
        );
        assert_eq!(Locale::from_accept_language(Some("de")), Locale::En);
        assert_eq!(Locale::from_accept_language(Some(";;,q=")), Locale::En);
    }
}
