//! Fulfilment as the station, the courier, the customer and a stranger with
//! the package in hand see it: a packed order's labels (PNG and PDF, with a
//! QR code that leads to the package's public traceability page), the page
//! itself (merchant, origin, documents, picking weight, cold chain, nothing
//! personal), and tracking readings checked against the goods' cold chain,
//! a breach flagged, announced and raised as an alert.

use serde_json::{Value, json};

use crate::catalogue::{MARKET, category, market, seafood, shop};
use crate::on_both_backends;
use crate::orders::{checkout_input, checkout_query, code, grant, listed, ok_order, step};
use crate::support::session::{signed_up, sql_exec, sql_text};
use crate::support::{Server, TestDb};

const ADD: &str = "mutation($m: String!, $v: ID!, $q: Int!) { addToCart(market: $m, variantId: $v, quantity: $q) { userErrors { code } } }";

const TRACK: &str =
    "mutation($id: ID!, $t: Float) { recordTracking(orderId: $id, location: \"潜江分拣中心\",
  latitude: 30.4, longitude: 112.9, temperatureCelsius: $t) {
  event { id at location temperatureCelsius breach } userErrors { code field message } } }";

struct Scene {
    server: Server,
    root: String,
    customer: String,
    station: String,
    courier: String,
    order: String,
}

async fn run(server: &Server, token: &str, mutation: &str, args: &str) -> Value {
    server
        .graphql_as(token, &step(mutation, args), json!({}))
        .await
        .1
}

/// One shop selling chilled crayfish and bass by weight; an order of both
/// taken through to packed, with a reading refused while it was picking.
async fn packed_order(db: &TestDb) -> Scene {
    let (server, root) = market(db).await;
    let (_, shrimp) = seafood(&server, &root).await;
    let fish = category(&server, &root, json!({ "marketCode": MARKET, "code": "fish", "nameZh": "鱼", "nameEn": "Fish", "fresh": true })).await;
    let set_band = "mutation($c: ID!) { setCategoryColdChain(categoryId: $c, coldChain: CHILLED) { coldChain userErrors { code } } }";
    let (shop_id, owner) = shop(&server, db, &root, "xiawang@shiji.example", "active").await;
    let (_, body) = server
        .graphql_as(&owner, set_band, json!({ "c": shrimp }))
        .await;
    assert_eq!(
        code(&body),
        "FORBIDDEN",
        "a shop does not set a category's cold chain: {body}"
    );
    let (_, body) = server
        .graphql_as(&root, set_band, json!({ "c": shrimp }))
        .await;
    assert_eq!(
        body["data"]["setCategoryColdChain"]["coldChain"], "CHILLED",
        "{body}"
    );

    // A published licence, and one that lapsed (not shown).
    sql_exec(db, "INSERT INTO media (id, kind, content_type, size_bytes, sha256, storage_key, file_name, uploaded_by, created_at) \
        VALUES ('doc-image', 'private_document', 'image/png', 1, 'x', 'x', 'licence.png', 'test', 0)").await.unwrap();
    for (id, number, flag) in [
        ("licence", "91429005MA4F7XKQ2R", "valid"),
        ("old", "OLD123456789", "expired"),
    ] {
        sql_exec(db, &format!("INSERT INTO qualification_documents (id, merchant_id, doc_type, number, issuer, valid_from, valid_to, image_id, added_by, created_at, flag) \
            VALUES ('{id}', '{shop_id}', 'business_licence', '{number}', '潜江市市场监督管理局', '2024-01-01', '2034-01-01', 'doc-image', 'test', 0, '{flag}')")).await.unwrap();
    }

    let crayfish = listed(&server, &owner, json!({
        "merchantId": shop_id, "categoryId": shrimp, "name": "潜江清水小龙虾",
        "specification": "4-6两/只", "origin": { "province": "湖北", "city": "潜江", "county": "熊口镇" },
        "description": "稻田养殖", "unit": "BOX", "minimumPackage": "5斤装", "minimumOrderQuantity": 1,
        "seasonal": true, "afterSaleNote": "死虾包赔", "attributes": [{ "name": "颜色", "value": "青" }],
        "variants": [{ "skuCode": "QJ-5", "name": "5斤装", "priceFen": 4500 }]
    }), 20).await;
    let bass = listed(&server, &owner, json!({
        "merchantId": shop_id, "categoryId": fish, "name": "鲜活鲈鱼",
        "specification": "约500克/条", "origin": { "province": "江苏", "city": "苏州", "county": "吴中区" },
        "description": "太湖鲜活", "unit": "KG", "minimumPackage": "1条", "minimumOrderQuantity": 1,
        "seasonal": false, "afterSaleNote": "死鱼包赔",
        "variants": [{ "skuCode": "BASS", "name": "1条", "priceFen": 4000, "soldByWeight": true, "estimatedWeightG": 500 }]
    }), 20).await;
    let (_, customer) = signed_up(&server, db, "customer@shiji.example").await;
    let (station_account, station) = signed_up(&server, db, "station@shiji.example").await;
    grant(&server, &root, &station_account, "station_staff").await;
    let (courier_account, courier) = signed_up(&server, db, "courier@shiji.example").await;
    grant(&server, &root, &courier_account, "courier").await;

    for (variant, qty) in [(&crayfish, 2), (&bass, 2)] {
        let (_, body) = server
            .graphql_as(
                &customer,
                ADD,
                json!({ "m": MARKET, "v": variant, "q": qty }),
            )
            .await;
        assert_eq!(body["data"]["addToCart"]["userErrors"], json!([]), "{body}");
    }
    let input = checkout_input("fulfil-1", "INSTANT", None, "CASH", None);
    let (_, body) = server
        .graphql_as(
            &customer,
            &checkout_query(),
            json!({ "m": MARKET, "input": input }),
        )
        .await;
    let order = ok_order(&body, "checkout");
    let id = order["id"].as_str().unwrap().to_string();
    let args = format!("orderId: \"{id}\"");
    ok_order(
        &run(&server, &station, "acceptOrder", &args).await,
        "acceptOrder",
    );
    ok_order(
        &run(&server, &station, "startPicking", &args).await,
        "startPicking",
    );
    let (_, body) = server
        .graphql_as(&courier, TRACK, json!({ "id": id, "t": 2.0 }))
        .await;
    assert_eq!(
        body["data"]["recordTracking"]["userErrors"][0]["code"], "INVALID_ORDER_STATE",
        "not on its way yet: {body}"
    );
    for line in order["lines"].as_array().unwrap() {
        let weight = if line["soldByWeight"] == true {
            ", weightGrams: 850"
        } else {
            ""
        };
        let line_args = format!(
            "{args}, lineId: \"{}\"{weight}",
            line["id"].as_str().unwrap()
        );
        ok_order(
            &run(&server, &station, "recordPick", &line_args).await,
            "recordPick",
        );
    }
    let packed = ok_order(
        &run(&server, &station, "packOrder", &args).await,
        "packOrder",
    );
    assert_eq!(packed["status"], "PACKED");
    Scene {
        server,
        root,
        customer,
        station,
        courier,
        order: id,
    }
}

async fn get(server: &Server, token: Option<&str>, path: &str) -> (u16, String, Vec<u8>) {
    let mut request = server.http.get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// The text a label's QR code holds, read back from its pixels.
fn qr_text(png_bytes: &[u8]) -> (u32, u32, String) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width, info.height);
    let ink = pixels.iter().filter(|p| **p < 128).count();
    assert!(ink > 10_000, "the label is not blank: {ink} dark pixels");
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        pixels[y * w as usize + x]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    (w, h, grids[0].decode().expect("QR decodes").1)
}

on_both_backends! {
    async fn a_packed_order_gets_labels_whose_qr_code_leads_to_a_public_page_without_personal_data(db: TestDb) {
        let s = packed_order(&db).await;
        let packages = "query($id: ID!) { order(id: $id) { packages { number merchantId traceCode traceUrl labelPng labelPdf } } }";
        let (_, body) = s.server.graphql_as(&s.station, packages, json!({ "id": s.order })).await;
        let package = body["data"]["order"]["packages"][0].clone();
        let trace_code = package["traceCode"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        let trace_url = package["traceUrl"].as_str().unwrap().to_string();
        assert_eq!(trace_url, s.server.url(&format!("/t/{trace_code}")));
        assert_eq!(body["data"]["order"]["packages"].as_array().unwrap().len(), 1, "one shop, one package");
        let (_, again) = s.server.graphql_as(&s.customer, packages, json!({ "id": s.order })).await;
        assert_eq!(again["data"]["order"]["packages"][0]["traceCode"], trace_code.as_str(), "one code per package, however often asked");

        // The station prints the label; its QR code holds the trace page's address.
        let (status, content_type, png_bytes) = get(&s.server, Some(&s.station), package["labelPng"].as_str().unwrap()).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        let (w, h, qr) = qr_text(&png_bytes);
        assert_eq!((w, h), (800, 1200), "100 × 150 mm at 203 dpi");
        assert_eq!(qr, trace_url);
        let (status, content_type, pdf) = get(&s.server, Some(&s.station), &format!("/orders/{}/label.pdf", s.order)).await;
        assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        let pdf_text = String::from_utf8_lossy(&pdf);
        assert!(pdf_text.contains("/Width 800 /Height 1200") && pdf_text.contains("startxref"));
        let (status, _, _) = get(&s.server, Some(&s.courier), &format!("/orders/{}/label.png", s.order)).await;
        assert_eq!(status, 200, "couriers print labels too");

        // Nobody else does.
        let label = format!("/orders/{}/label.png", s.order);
        assert_eq!(get(&s.server, Some(&s.customer), &label).await.0, 403, "the customer sees the order but prints no label");
        assert_eq!(get(&s.server, None, &label).await.0, 401);
        assert_eq!(get(&s.server, Some(&s.station), "/orders/nothing-here/label.png").await.0, 404);
        assert_eq!(get(&s.server, Some(&s.station), &format!("{label}?package=2")).await.0, 409, "no second package");
        let audited = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE action = $1", "order.label").await.unwrap();
        assert_eq!(audited, "3", "every label printed is audited");

        // Anyone with the package reads its page, and learns nothing personal.
        let (status, content_type, page) = get(&s.server, None, &format!("/t/{trace_code}")).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "text/html; charset=utf-8");
        let page = String::from_utf8(page).unwrap();
        for shown in ["潜江清水小龙虾", "湖北 潜江 熊口镇", "鲜活鲈鱼", "江苏 苏州 吴中区", "xiawang@shiji.example", "850 g", "营业执照", "91**************2R", "冷藏 0–4 ℃", "拣货时间"] {
            assert!(page.contains(shown), "the page shows {shown}: {page}");
        }
        for hidden in ["王小明", "13812345678", "138****5678", "园林街道", "91429005MA4F7XKQ2R", "OLD1", s.order.as_str(), "customer@shiji.example"] {
            assert!(!page.contains(hidden), "the page must not show {hidden}: {page}");
        }
        let (_, _, english) = get(&s.server, None, &format!("/t/{trace_code}?lang=en")).await;
        let english = String::from_utf8(english).unwrap();
        assert!(english.contains("Origin") && english.contains("Business licence"), "{english}");
        let (status, _, missing) = get(&s.server, None, "/t/aaaaaaaaaaaaaaaa").await;
        assert_eq!(status, 404);
        assert!(String::from_utf8(missing).unwrap().contains("溯源码不存在"));
        assert_eq!(get(&s.server, None, "/t/<script>").await.0, 404);
        let _ = &s.root;
    }
}

on_both_backends! {
    async fn a_reading_outside_the_cold_chain_is_flagged_announced_and_alerted(db: TestDb) {
        let s = packed_order(&db).await;
        let (_, body) = s.server.graphql_as(&s.customer, TRACK, json!({ "id": s.order, "t": 2.5 })).await;
        assert_eq!(code(&body), "FORBIDDEN", "customers record no tracking: {body}");

        let (_, body) = s.server.graphql_as(&s.courier, TRACK, json!({ "id": s.order, "t": 2.5 })).await;
        let event = &body["data"]["recordTracking"]["event"];
        assert_eq!((event["temperatureCelsius"].as_f64(), event["breach"].as_bool()), (Some(2.5), Some(false)), "{body}");
        let (_, body) = s.server.graphql_as(&s.courier, TRACK, json!({ "id": s.order, "t": 9.0 })).await;
        let event = &body["data"]["recordTracking"]["event"];
        assert_eq!((event["temperatureCelsius"].as_f64(), event["breach"].as_bool()), (Some(9.0), Some(true)), "9 ℃ breaks the chilled band: {body}");
        let (_, body) = s.server.graphql_as(&s.courier, TRACK, json!({ "id": s.order, "t": 250.0 })).await;
        assert_eq!(body["data"]["recordTracking"]["userErrors"][0]["code"], "INVALID_TRACKING", "{body}");

        let (_, body) = s.server.graphql_as(&s.root, "query($m: String!) { marketAlerts(market: $m) { kind subjectId message } }", json!({ "m": MARKET })).await;
        let alerts = body["data"]["marketAlerts"].as_array().unwrap();
        assert!(alerts.iter().any(|a| a["kind"] == "order.cold_chain_breach" && a["subjectId"] == s.order.as_str()), "{body}");
        let events = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE subject_id = $1 AND kind = 'order.cold_chain_breach'", &s.order).await.unwrap();
        assert_eq!(events, "1", "announced once, for the one breach");
        let audited = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE object_id = $1 AND action = 'order.tracking'", &s.order).await.unwrap();
        assert_eq!(audited, "2");

        // The customer follows the readings; a stranger learns nothing.
        let tracking = "query($id: ID!) { orderTracking(orderId: $id) { location temperatureCelsius breach latitude } }";
        let (_, body) = s.server.graphql_as(&s.customer, tracking, json!({ "id": s.order })).await;
        let events = body["data"]["orderTracking"].as_array().unwrap_or_else(|| panic!("{body}"));
        assert_eq!(events.len(), 2, "{body}");
        assert_eq!((events[1]["breach"].as_bool(), events[1]["location"].as_str()), (Some(true), Some("潜江分拣中心")));
        let (_, stranger) = signed_up(&s.server, &db, "stranger@shiji.example").await;
        let (_, body) = s.server.graphql_as(&stranger, tracking, json!({ "id": s.order })).await;
        assert_eq!(body["data"]["orderTracking"], Value::Null, "{body}");

        // The trace page shows the readings (not where they were taken).
        let (_, body) = s.server.graphql_as(&s.station, "query($id: ID!) { order(id: $id) { packages { traceCode } } }", json!({ "id": s.order })).await;
        let trace_code = body["data"]["order"]["packages"][0]["traceCode"].as_str().unwrap().to_string();
        let (_, _, page) = get(&s.server, None, &format!("/t/{trace_code}")).await;
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains("2.5 ℃") && page.contains("9.0 ℃") && page.contains("超出范围"), "{page}");
        assert!(!page.contains("潜江分拣中心"), "no locations on the public page");
    }
}
