//! What a shipping label costs: drawing and encoding one package's PNG
//! (with the CJK font, and with the built-in ASCII fallback), wrapping it
//! in a PDF, and loading the font. Sizes are printed once before timing.
//!
//! `cargo bench --bench labels`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shiji::accounts::identity_documents::mask_phone;
use shiji::fulfilment::labels::{
    LabelData, LabelFont, LabelItem, mask_name, render_pdf, render_png,
};

fn sample() -> LabelData {
    LabelData {
        order_number: "QJ20261125-000123".into(),
        package_no: 1,
        packages: 2,
        shop: "潜江虾王水产店".into(),
        recipient_name: mask_name("王小明"),
        recipient_phone: mask_phone("13812345678"),
        address: "湖北省潜江市园林街道章华南路 1 号 3 栋 502 室".into(),
        window: "2026-11-25 08:00–09:00".into(),
        items: vec![
            LabelItem {
                name: "潜江清水小龙虾 5斤装".into(),
                quantity: 2,
                weight_g: None,
            },
            LabelItem {
                name: "鲜活鲈鱼 1条".into(),
                quantity: 2,
                weight_g: Some(850),
            },
            LabelItem {
                name: "红菜薹".into(),
                quantity: 1,
                weight_g: Some(1200),
            },
        ],
        cold_chain: Some("冷藏 0–4 ℃".into()),
        trace_url: "https://shiji.example/t/k3mxq7vd2hwp5zra".into(),
    }
}

fn labels(c: &mut Criterion) {
    let data = sample();
    let started = std::time::Instant::now();
    let font = LabelFont::load("");
    println!(
        "font: {:?} loaded in {:.1} ms",
        font.path(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let plain = LabelFont::none();
    let png = render_png(&data, &font).expect("png");
    let ascii = render_png(&data, &plain).expect("png");
    let pdf = render_pdf(std::slice::from_ref(&png));
    println!(
        "sizes: PNG {} bytes (ASCII fallback {} bytes), PDF {} bytes",
        png.len(),
        ascii.len(),
        pdf.len()
    );

    let mut group = c.benchmark_group("label");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("png_cjk_font", |b| {
        b.iter(|| render_png(black_box(&data), &font))
    });
    group.bench_function("png_ascii_fallback", |b| {
        b.iter(|| render_png(black_box(&data), &plain))
    });
    group.bench_function("pdf_from_png", |b| {
        b.iter(|| render_pdf(black_box(std::slice::from_ref(&png))))
    });
    group.bench_function("png_and_pdf", |b| {
        b.iter(|| {
            let png = render_png(black_box(&data), &font).expect("png");
            render_pdf(&[png])
        })
    });
    group.finish();
}

criterion_group!(benches, labels);
criterion_main!(benches);
