//! Merchant onboarding as applicants and market staff live it (MER-1…4):
//! apply, review (every branch), sign, set up the shop; qualification
//! documents with masked numbers, expiry and renewal; the credit file; the
//! public shop page.

use serde_json::{Value, json};

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up, sql_text};
use crate::support::{Server, TestDb, first_code};

const MARKET: &str = "suzhou-shuangta";

const UPLOAD: &str = "mutation($file: Upload!, $kind: MediaKind!) { uploadMedia(file: $file, kind: $kind) { media { id } userErrors { code } } }";

const APPLICATION: &str = "id status shopName categories reviewReason suspendedCategories
  documents { id type number issuer validFrom validTo expiringSoon expired }
  steps { action status reason } agreements { id settlementCycle settlementDays }
  credit { score grade reasons { kind points note } }";

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

const LICENCE_NUMBER: &str = "91320505MA1X2Y3Z4K";

/// A real 8 × 8 PNG.
fn png() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 8, 8);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("png header");
        writer
            .write_image_data(&[90u8; 8 * 8 * 3])
            .expect("png data");
    }
    bytes
}

/// Uploads a file as a frontend does; returns its media id.
async fn upload(server: &Server, token: &str, kind: &str, name: &str, bytes: Vec<u8>) -> String {
    let operations = json!({ "query": UPLOAD, "variables": { "file": null, "kind": kind } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    let response = server
        .http
        .post(server.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let body: Value = response.json().await.expect("JSON");
    body["data"]["uploadMedia"]["media"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("upload {name}: {body}"))
        .to_string()
}

fn document(kind: &str, number: &str, valid_to: &str, image: &str) -> Value {
    json!({ "type": kind, "number": number, "issuer": "苏州市姑苏区市场监督管理局", "validFrom": "2026-01-01", "validTo": valid_to, "imageId": image })
}

/// The people and files every scenario needs.
struct Cast {
    server: Server,
    root: String,
    staff: String,
    support: String,
    applicant: String,
    applicant_id: String,
    other: String,
    doc_image: String,
    shop_image: String,
    signed_file: String,
}

async fn cast(db: &TestDb) -> Cast {
    let server = Server::start(db, &[]).await;
    bootstrap_admin(db, "root@shiji.example").await;
    let root = login(&server, db, "root@shiji.example", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    create_market(&server, &root, MARKET).await;
    let role = "mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { done } }";
    let (staff_id, staff) = signed_up(&server, db, "admin@shuangta.example").await;
    let (support_id, support) = signed_up(&server, db, "support@shuangta.example").await;
    for (id, r) in [(&staff_id, "market_admin"), (&support_id, "support_agent")] {
        let (_, body) = server
            .graphql_as(
                &root,
                role,
                json!({ "input": { "accountId": id, "role": r, "marketCode": MARKET } }),
            )
            .await;
        assert_eq!(body["data"]["assignRole"]["done"], true, "{body}");
    }
    let (applicant_id, applicant) = signed_up(&server, db, "wang@farm.example").await;
    let (_, other) = signed_up(&server, db, "li@farm.example").await;
    let doc_image = upload(&server, &applicant, "DOCUMENT", "licence.pdf", PDF.to_vec()).await;
    let shop_image = upload(&server, &applicant, "IMAGE", "shop.png", png()).await;
    let signed_file = upload(
        &server,
        &staff,
        "PRIVATE_DOCUMENT",
        "agreement.pdf",
        PDF.to_vec(),
    )
    .await;
    Cast {
        server,
        root,
        staff,
        support,
        applicant,
        applicant_id,
        other,
        doc_image,
        shop_image,
        signed_file,
    }
}

async fn apply(c: &Cast, token: &str, name: &str, documents: Vec<Value>) -> Value {
    let q = format!(
        "mutation($input: ApplyAsMerchantInput!) {{ applyAsMerchant(input: $input) {{ application {{ {APPLICATION} }} userErrors {{ code field message }} }} }}"
    );
    let input = json!({ "market": MARKET, "shopName": name, "contact": { "name": "王师傅", "phone": "13800138000" }, "categories": ["vegetables"], "documents": documents });
    let (_, body) = c
        .server
        .graphql_as(token, &q, json!({ "input": input }))
        .await;
    body["data"]["applyAsMerchant"].clone()
}

async fn review(
    c: &Cast,
    token: &str,
    merchant: &str,
    decision: &str,
    reason: Option<&str>,
) -> Value {
    let q = format!(
        "mutation($m: ID!, $d: MerchantReviewDecision!, $r: String) {{ reviewMerchantApplication(merchant: $m, decision: $d, reason: $r) {{ application {{ {APPLICATION} }} userErrors {{ code field message }} }} }}"
    );
    let (_, body) = c
        .server
        .graphql_as(
            token,
            &q,
            json!({ "m": merchant, "d": decision, "r": reason }),
        )
        .await;
    body
}

async fn sign(c: &Cast, token: &str, merchant: &str) -> Value {
    let q = "mutation($m: ID!, $input: MerchantAgreementInput!) { signMerchantAgreement(merchant: $m, input: $input) { agreement { id settlementCycle settlementDays signedFile } userErrors { code message } } }";
    let input = json!({ "subject": "苏州王记农产品有限公司", "termStart": "2026-12-01", "termEnd": "2027-11-30", "productsAndPrices": "青菜 3.5 元/斤", "deliveryTimeAndQuality": "当日 9 点前送达，新鲜无腐烂", "liability": "缺货按订单金额 10% 赔付", "settlementCycle": "T_PLUS_N", "settlementDays": 7, "settlementMethod": "银行转账", "signedFile": c.signed_file });
    let (_, body) = c
        .server
        .graphql_as(token, q, json!({ "m": merchant, "input": input }))
        .await;
    body
}

async fn set_up_shop(c: &Cast, token: &str, merchant: &str) -> Value {
    let q = "mutation($m: ID!, $input: ShopInput!) { setUpShop(merchant: $m, input: $input) { shop { id name specialities publicWelfare creditGrade } userErrors { code } } }";
    let input = json!({ "name": "王记蔬菜", "imageId": c.shop_image, "specialities": ["太湖青菜"], "publicWelfare": ["助农直采"], "description": "自家种植" });
    let (_, body) = c
        .server
        .graphql_as(token, q, json!({ "m": merchant, "input": input }))
        .await;
    body
}

async fn application(c: &Cast, token: &str, merchant: &str) -> Value {
    let q = format!("query($m: ID!) {{ merchantApplication(merchant: $m) {{ {APPLICATION} }} }}");
    let (_, body) = c
        .server
        .graphql_as(token, &q, json!({ "m": merchant }))
        .await;
    body["data"]["merchantApplication"].clone()
}

async fn audited(db: &TestDb, merchant: &str, action: &str) -> bool {
    let sql = format!(
        "SELECT action FROM audit_log WHERE object_id = $1 AND action = '{action}' LIMIT 1"
    );
    sql_text(db, &sql, merchant).await.is_some()
}

/// A shop taken all the way to `ACTIVE`, with documents for vegetables.
async fn active_shop(c: &Cast, health_valid_to: &str) -> String {
    let docs = vec![
        document(
            "BUSINESS_LICENCE",
            LICENCE_NUMBER,
            "2099-12-31",
            &c.doc_image,
        ),
        document(
            "HEALTH_CERTIFICATE",
            "JK2026-000123",
            health_valid_to,
            &c.doc_image,
        ),
        document("ORIGIN_PROOF", "CD-88991", "2099-12-31", &c.doc_image),
    ];
    let applied = apply(c, &c.applicant, "王记蔬菜", docs).await;
    let id = applied["application"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{applied}"))
        .to_string();
    let body = review(c, &c.support, &id, "APPROVE", None).await;
    assert_eq!(
        body["data"]["reviewMerchantApplication"]["application"]["status"], "APPROVED",
        "{body}"
    );
    let body = sign(c, &c.staff, &id).await;
    assert!(
        body["data"]["signMerchantAgreement"]["agreement"]["id"].is_string(),
        "{body}"
    );
    let body = set_up_shop(c, &c.applicant, &id).await;
    assert_eq!(
        body["data"]["setUpShop"]["shop"]["id"],
        id.as_str(),
        "{body}"
    );
    id
}

on_both_backends! {
    async fn onboarding_runs_through_every_branch(db: TestDb) {
        let c = cast(&db).await;

        // Applying with only a business licence: accepted for review, numbers
        // shown in full to the applicant.
        let applied = apply(&c, &c.applicant, "王记蔬菜", vec![document("BUSINESS_LICENCE", LICENCE_NUMBER, "2099-12-31", &c.doc_image)]).await;
        assert_eq!(applied["userErrors"], json!([]), "{applied}");
        let app = &applied["application"];
        let id = app["id"].as_str().unwrap().to_string();
        assert_eq!(app["status"], "APPLIED");
        assert_eq!(app["documents"][0]["number"], LICENCE_NUMBER);
        assert_eq!(app["steps"][0]["action"], "merchant.apply");

        // The applicant holds no review rights: they cannot decide on their own application.
        let body = review(&c, &c.applicant, &id, "APPROVE", None).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

        // Approval is refused while documents the category needs are missing, naming them.
        let body = review(&c, &c.staff, &id, "APPROVE", None).await;
        let errors = &body["data"]["reviewMerchantApplication"]["userErrors"];
        assert_eq!(errors[0]["code"], "MISSING_DOCUMENTS", "{body}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains("health_certificate") && message.contains("origin_proof or purchase_receipt"), "{message}");
        assert!(!message.contains("business_licence"), "{message}");

        // Asking for more needs a reason; with one, the applicant sees it.
        let body = review(&c, &c.staff, &id, "REQUEST_MORE", None).await;
        assert_eq!(body["data"]["reviewMerchantApplication"]["userErrors"][0]["code"], "REASON_REQUIRED", "{body}");
        let body = review(&c, &c.staff, &id, "REQUEST_MORE", Some("请补充健康证和产地证明")).await;
        assert_eq!(body["data"]["reviewMerchantApplication"]["application"]["status"], "NEEDS_MORE", "{body}");
        let seen = application(&c, &c.applicant, &id).await;
        assert_eq!(seen["reviewReason"], "请补充健康证和产地证明");
        assert_eq!(seen["steps"][1]["status"], "NEEDS_MORE");

        // Another merchant's owner cannot touch this application.
        let theirs = apply(&c, &c.other, "李家禽蛋", vec![]).await;
        assert_eq!(theirs["application"]["status"], "APPLIED", "{theirs}");
        let update = "mutation($m: ID!, $input: UpdateMerchantApplicationInput!) { updateMerchantApplication(merchant: $m, input: $input) { application { status documents { type } steps { action status } } userErrors { code field } } }";
        let (_, body) = c.server.graphql_as(&c.other, update, json!({ "m": id, "input": { "shopName": "抢来的" } })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

        // The applicant adds the documents and resubmits: back to review.
        let docs = vec![document("HEALTH_CERTIFICATE", "JK2026-000123", "2099-12-31", &c.doc_image), document("ORIGIN_PROOF", "CD-88991", "2099-12-31", &c.doc_image)];
        let (_, body) = c.server.graphql_as(&c.applicant, update, json!({ "m": id, "input": { "documents": docs } })).await;
        let updated = &body["data"]["updateMerchantApplication"]["application"];
        assert_eq!(updated["status"], "APPLIED", "{body}");
        assert_eq!(updated["documents"].as_array().unwrap().len(), 3);

        // A support agent of the market approves; staff sign the agreement.
        let body = review(&c, &c.support, &id, "APPROVE", None).await;
        assert_eq!(body["data"]["reviewMerchantApplication"]["application"]["status"], "APPROVED", "{body}");
        let body = sign(&c, &c.applicant, &id).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "the merchant cannot sign for the market: {body}");
        let body = sign(&c, &c.staff, &id).await;
        let agreement = &body["data"]["signMerchantAgreement"]["agreement"];
        assert_eq!((agreement["settlementCycle"].as_str(), agreement["settlementDays"].as_i64()), (Some("T_PLUS_N"), Some(7)), "{body}");
        assert_eq!(application(&c, &c.applicant, &id).await["status"], "CONTRACTED");

        // Not public before it opens; only the owner sets it up.
        let (_, body) = c.server.graphql("query($id: ID!) { shop(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(body["data"]["shop"], Value::Null);
        let body = set_up_shop(&c, &c.other, &id).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let body = set_up_shop(&c, &c.applicant, &id).await;
        let shop = &body["data"]["setUpShop"]["shop"];
        assert_eq!(shop["specialities"], json!(["太湖青菜"]), "{body}");
        assert_eq!(shop["creditGrade"], "A");
        assert_eq!(application(&c, &c.applicant, &id).await["status"], "ACTIVE");
        let role = sql_text(&db, "SELECT v2 FROM casbin_rule WHERE ptype = 'g' AND v0 = $1 AND v1 = 'merchant_owner'", &format!("user:{}", c.applicant_id)).await;
        assert_eq!(role.as_deref(), Some(MARKET));

        // The public page masks document numbers; the owner sees them whole.
        let (_, body) = c.server.graphql("query($id: ID!) { shop(id: $id) { name market creditGrade documents { type number issuer validTo } } }", json!({ "id": id })).await;
        let public = &body["data"]["shop"];
        assert_eq!(public["market"], MARKET, "{body}");
        let numbers: Vec<&str> = public["documents"].as_array().unwrap().iter().map(|d| d["number"].as_str().unwrap()).collect();
        assert!(numbers.contains(&"91**************4K"), "{numbers:?}");
        assert!(!body.to_string().contains(LICENCE_NUMBER), "{body}");
        assert!(application(&c, &c.applicant, &id).await.to_string().contains(LICENCE_NUMBER));

        // Staff find applications by status.
        let (_, body) = c.server.graphql_as(&c.staff, "{ merchantApplications(market: \"suzhou-shuangta\", status: ACTIVE) { edges { node { id } } } }", json!({})).await;
        assert_eq!(body["data"]["merchantApplications"]["edges"][0]["node"]["id"], id.as_str(), "{body}");
        let (_, body) = c.server.graphql_as(&c.applicant, "{ merchantApplications(market: \"suzhou-shuangta\") { edges { node { id } } } }", json!({})).await;
        assert_eq!(first_code(&body), "FORBIDDEN");
        let (_, body) = c.server.graphql_as(&c.applicant, "{ myMerchants { edges { node { id status } } } }", json!({})).await;
        assert_eq!(body["data"]["myMerchants"]["edges"][0]["node"]["status"], "ACTIVE", "{body}");

        // Every step is in the audit log.
        for action in ["merchant.apply", "merchant.review", "merchant.application.update", "merchant.agreement.sign", "merchant.shop.open"] {
            assert!(audited(&db, &id, action).await, "{action} not audited");
        }
        // ... and the audit log never holds a document number.
        let leaked = sql_text(&db, "SELECT action FROM audit_log WHERE after_state LIKE $1 LIMIT 1", &format!("%{LICENCE_NUMBER}%")).await;
        assert_eq!(leaked, None);

        // The other application is rejected, with a reason, and is closed.
        let theirs = theirs["application"]["id"].as_str().unwrap().to_string();
        let body = review(&c, &c.staff, &theirs, "REJECT", None).await;
        assert_eq!(body["data"]["reviewMerchantApplication"]["userErrors"][0]["code"], "REASON_REQUIRED", "{body}");
        let body = review(&c, &c.staff, &theirs, "REJECT", Some("经营范围不符")).await;
        assert_eq!(body["data"]["reviewMerchantApplication"]["application"]["status"], "REJECTED", "{body}");
        assert_eq!(application(&c, &c.other, &theirs).await["reviewReason"], "经营范围不符");
        let (_, body) = c.server.graphql_as(&c.other, update, json!({ "m": theirs, "input": { "shopName": "再试一次" } })).await;
        assert_eq!(body["data"]["updateMerchantApplication"]["userErrors"][0]["code"], "WRONG_STATUS", "{body}");
        assert!(audited(&db, &theirs, "merchant.review").await);
        let _ = &c.root;
    }
}

on_both_backends! {
    async fn documents_expire_suspend_listings_and_renewals_restore_them(db: TestDb) {
        let c = cast(&db).await;
        let id = active_shop(&c, "2030-06-30").await;
        let sweep = "mutation($at: DateTime) { runDocumentExpirySweep(market: \"suzhou-shuangta\", at: $at) { flagged suspended restored userErrors { code } } }";

        // A vegetable listed for sale in the catalogue.
        let (_, body) = c.server.graphql_as(&c.root, "mutation($input: CreateCategoryInput!) { createCategory(input: $input) { category { id } userErrors { code } } }", json!({ "input": { "marketCode": MARKET, "code": "vegetables", "nameZh": "蔬菜", "nameEn": "Vegetables", "fresh": true } })).await;
        let category = body["data"]["createCategory"]["category"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        let product = json!({ "merchantId": id, "categoryId": category, "name": "太湖青菜", "unit": "JIN", "afterSaleNote": "烂叶包退", "variants": [{ "skuCode": "QC-1", "name": "1斤", "priceFen": 350 }] });
        let (_, body) = c.server.graphql_as(&c.applicant, "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } userErrors { code } } }", json!({ "input": product })).await;
        let product = body["data"]["createProduct"]["product"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        let (_, body) = c.server.graphql_as(&c.applicant, "mutation($id: ID!) { setProductStatus(id: $id, status: LISTED) { product { status } userErrors { code } } }", json!({ "id": product })).await;
        assert_eq!(body["data"]["setProductStatus"]["product"]["status"], "LISTED", "{body}");
        let status = |token: String| {
            let server = &c.server;
            let merchant = id.clone();
            async move {
                let (_, body) = server.graphql_as(&token, "query($m: ID!) { myProducts(merchant: $m) { edges { node { status } } } }", json!({ "m": merchant })).await;
                body["data"]["myProducts"]["edges"][0]["node"]["status"].clone()
            }
        };

        // Only platform administrators run the sweep by hand.
        let (_, body) = c.server.graphql_as(&c.staff, sweep, json!({ "at": null })).await;
        assert_eq!(first_code(&body), "FORBIDDEN");

        let health = |app: &Value| app["documents"].as_array().unwrap().iter().find(|d| d["type"] == "HEALTH_CERTIFICATE").cloned().unwrap();
        // 31 days before expiry: not flagged yet.
        let (_, body) = c.server.graphql_as(&c.root, sweep, json!({ "at": "2030-05-30T12:00:00Z" })).await;
        assert_eq!(body["data"]["runDocumentExpirySweep"]["flagged"], 0, "{body}");
        assert_eq!(health(&application(&c, &c.applicant, &id).await)["expiringSoon"], false);
        // 30 days before: flagged, and the merchant sees it.
        let (_, body) = c.server.graphql_as(&c.root, sweep, json!({ "at": "2030-05-31T12:00:00Z" })).await;
        assert_eq!(body["data"]["runDocumentExpirySweep"]["flagged"], 1, "{body}");
        let app = application(&c, &c.applicant, &id).await;
        assert_eq!(health(&app)["expiringSoon"], true, "{app}");
        assert_eq!(app["suspendedCategories"], json!([]));

        // Expired: the listings of categories needing it are held back.
        let (_, body) = c.server.graphql_as(&c.root, sweep, json!({ "at": "2030-07-01T12:00:00Z" })).await;
        assert_eq!(body["data"]["runDocumentExpirySweep"]["suspended"], 1, "{body}");
        let app = application(&c, &c.applicant, &id).await;
        assert_eq!(health(&app)["expired"], true);
        assert_eq!(app["suspendedCategories"], json!(["vegetables"]));
        assert_eq!(status(c.applicant.clone()).await, "SUSPENDED");
        let (_, body) = c.server.graphql_as(&c.support, "{ documentExpiryReport(market: \"suzhou-shuangta\") { edges { node { type merchant expired } } } }", json!({})).await;
        assert_eq!(body["data"]["documentExpiryReport"]["edges"][0]["node"]["type"], "HEALTH_CERTIFICATE", "{body}");
        assert!(audited(&db, &id, "merchant.listings.reconcile").await);

        // Someone else's shop is not theirs to renew for.
        let add = "mutation($m: ID!, $input: QualificationDocumentInput!) { addQualificationDocument(merchant: $m, input: $input) { document { type number expiringSoon } userErrors { code field } } }";
        let renewal = document("HEALTH_CERTIFICATE", "JK2030-000456", "2099-06-30", &c.doc_image);
        let (_, body) = c.server.graphql_as(&c.other, add, json!({ "m": id, "input": renewal })).await;
        assert_eq!(first_code(&body), "FORBIDDEN");
        // An expired document is not accepted as a renewal.
        let stale = json!({ "type": "HEALTH_CERTIFICATE", "number": "JK2020-000001", "issuer": "卫健委", "validFrom": "2020-07-01", "validTo": "2021-06-30", "imageId": c.doc_image });
        let (_, body) = c.server.graphql_as(&c.applicant, add, json!({ "m": id, "input": stale })).await;
        assert_eq!(body["data"]["addQualificationDocument"]["userErrors"][0]["code"], "DOCUMENT_EXPIRED", "{body}");
        // The renewal lifts the suspension.
        let (_, body) = c.server.graphql_as(&c.applicant, add, json!({ "m": id, "input": renewal })).await;
        assert_eq!(body["data"]["addQualificationDocument"]["document"]["number"], "JK2030-000456", "{body}");
        assert_eq!(application(&c, &c.applicant, &id).await["suspendedCategories"], json!([]));
        assert_eq!(status(c.applicant.clone()).await, "LISTED");
        assert!(audited(&db, &id, "merchant.document.add").await);
    }
}

on_both_backends! {
    async fn a_d_credit_grade_blocks_renewal(db: TestDb) {
        let c = cast(&db).await;
        let id = active_shop(&c, "2099-12-31").await;
        let record = "mutation($m: ID!, $k: CreditEventKind!, $p: Int!) { recordMerchantCreditEvent(merchant: $m, kind: $k, points: $p, note: \"逾期交付三次\") { credit { score grade reasons { kind points note } } userErrors { code } } }";

        // Renewing with a good record adds an agreement; the first stays as signed.
        let body = sign(&c, &c.staff, &id).await;
        assert!(body["data"]["signMerchantAgreement"]["agreement"]["id"].is_string(), "{body}");
        assert_eq!(application(&c, &c.applicant, &id).await["agreements"].as_array().unwrap().len(), 2);

        // The shop cannot sign its own renewal, though its owner writes merchant data.
        let body = sign(&c, &c.applicant, &id).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

        // Only staff record credit events; a breach takes points away.
        let (_, body) = c.server.graphql_as(&c.applicant, record, json!({ "m": id, "k": "CONTRACT_PERFORMED", "p": 10 })).await;
        assert_eq!(first_code(&body), "FORBIDDEN");
        let (_, body) = c.server.graphql_as(&c.staff, record, json!({ "m": id, "k": "CONTRACT_BREACH", "p": 10 })).await;
        assert_eq!(body["data"]["recordMerchantCreditEvent"]["userErrors"][0]["code"], "INVALID_POINTS", "{body}");
        let (_, body) = c.server.graphql_as(&c.staff, record, json!({ "m": id, "k": "CONTRACT_BREACH", "p": -45 })).await;
        let credit = &body["data"]["recordMerchantCreditEvent"]["credit"];
        assert_eq!((credit["score"].as_i64(), credit["grade"].as_str()), (Some(55), Some("D")), "{body}");

        // The owner sees why; the public sees the grade.
        let app = application(&c, &c.applicant, &id).await;
        assert_eq!(app["credit"]["reasons"][0], json!({ "kind": "CONTRACT_BREACH", "points": -45, "note": "逾期交付三次" }));
        let (_, body) = c.server.graphql("query($id: ID!) { shop(id: $id) { creditGrade } }", json!({ "id": id })).await;
        assert_eq!(body["data"]["shop"]["creditGrade"], "D");

        // A D grade stops renewal, with a clear reason.
        let body = sign(&c, &c.staff, &id).await;
        let errors = &body["data"]["signMerchantAgreement"]["userErrors"];
        assert_eq!(errors[0]["code"], "CREDIT_GRADE_D", "{body}");
        assert_eq!(application(&c, &c.applicant, &id).await["agreements"].as_array().unwrap().len(), 2);
        assert!(audited(&db, &id, "merchant.credit.record").await);
        assert!(audited(&db, &id, "merchant.agreement.renew").await);
    }
}
