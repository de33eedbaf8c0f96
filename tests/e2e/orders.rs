//! An order's whole life as the customer, the station and the courier live
//! it: a cart across two shops, checkout in each delivery mode, payment,
//! verification, picking by weight with the difference refunded, packing,
//! dispatch, delivery with photo proof, completion; wrong roles refused at
//! every step; a retried checkout making one order; a failing payment
//! leaving the order to pay again; 50 checkouts racing for 10 units.

use serde_json::{Value, json};

use crate::catalogue::{MARKET, category, market_with, seafood, shop};
use crate::media::{png, upload};
use crate::on_both_backends;
use crate::plugin_registry::{artifact, enable, hello_manifest, hostile_manifest, install};
use crate::support::session::{signed_up, sql_exec, sql_text};
use crate::support::{Server, TestDb};

const ORDER: &str = "id number status deliveryMode slotId deliverFrom deliverUntil movedReason
  recipient { name phone address distanceMeters } deliveryQuotedBy
  parts { merchantId subtotalFen }
  lines { id merchantId productName soldByWeight unitPriceFen quantity estimatedWeightGrams subtotalFen totalFen pickedWeightGrams finalFen }
  subtotalFen adjustmentFen deliveryFeeFen totalFen paidFen refundedFen
  payments { provider status amountFen failure } refunds { kind amountFen reason }
  timeline { status note } verifyBy carrier trackingNumber proofMediaIds";

const ADD: &str = "mutation($m: String!, $v: ID!, $q: Int!) { addToCart(market: $m, variantId: $v, quantity: $q) {
  cart { lines { variantId quantity subtotalFen available } subtotalFen totalFen } userErrors { code field message } } }";

pub(crate) fn checkout_query() -> String {
    format!(
        "mutation($m: String!, $input: CheckoutInput!) {{ checkout(market: $m, input: $input) {{
  order {{ {ORDER} }} replayed pricingFallbacks userErrors {{ code field message }} }} }}"
    )
}

pub(crate) fn step(mutation: &str, args: &str) -> String {
    format!(
        "mutation {{ {mutation}({args}) {{ order {{ {ORDER} }} userErrors {{ code field message }} }} }}"
    )
}

const CREATE_PRODUCT: &str =
    "mutation($input: CreateProductInput!) { createProduct(input: $input) {
  product { id variants { id } } userErrors { code field message } } }";

/// A listed product with one variant and `stock` units; its variant id.
pub(crate) async fn listed(server: &Server, owner: &str, input: Value, stock: i64) -> String {
    let (_, body) = server
        .graphql_as(owner, CREATE_PRODUCT, json!({ "input": input }))
        .await;
    let product = &body["data"]["createProduct"]["product"];
    assert!(product["id"].is_string(), "{body}");
    let id = product["id"].as_str().unwrap();
    let variant = product["variants"][0]["id"].as_str().unwrap().to_string();
    let (_, body) = server
        .graphql_as(owner, "mutation($id: ID!) { setProductStatus(id: $id, status: LISTED) { userErrors { code } } }", json!({ "id": id }))
        .await;
    assert_eq!(
        body["data"]["setProductStatus"]["userErrors"],
        json!([]),
        "{body}"
    );
    let (_, body) = server
        .graphql_as(owner, "mutation($id: ID!, $d: Int!) { adjustStock(variantId: $id, delta: $d, reason: RESTOCK) { userErrors { code } } }", json!({ "id": variant, "d": stock }))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["userErrors"],
        json!([]),
        "{body}"
    );
    variant
}

fn crayfish(merchant: &str, category: &str) -> Value {
    json!({
        "merchantId": merchant, "categoryId": category, "name": "潜江清水小龙虾",
        "specification": "4-6两/只", "origin": { "province": "湖北", "city": "潜江", "county": "潜江市" },
        "description": "稻田养殖", "unit": "BOX", "minimumPackage": "5斤装", "minimumOrderQuantity": 1,
        "seasonal": true, "afterSaleNote": "死虾包赔", "tags": ["special"],
        "attributes": [{ "name": "颜色", "value": "青" }],
        "variants": [{ "skuCode": "QJ-5", "name": "5斤装", "priceFen": 4500 }]
    })
}

/// Bass sold by weight: ¥40.00 per kg, about 500 g a fish.
fn bass(merchant: &str, category: &str) -> Value {
    json!({
        "merchantId": merchant, "categoryId": category, "name": "鲜活鲈鱼",
        "specification": "约500克/条", "origin": { "province": "江苏", "city": "苏州", "county": "吴中区" },
        "description": "太湖鲜活", "unit": "KG", "minimumPackage": "1条", "minimumOrderQuantity": 1,
        "seasonal": false, "afterSaleNote": "死鱼包赔",
        "variants": [{ "skuCode": "BASS", "name": "1条", "priceFen": 4000, "soldByWeight": true, "estimatedWeightG": 500 }]
    })
}

/// Everyone an order meets, in market `qianjiang`.
struct Cast {
    server: Server,
    root: String,
    customer: String,
    station: String,
    courier: String,
    owner: String,
    crayfish: String,
    bass: String,
}

pub(crate) async fn grant(server: &Server, root: &str, account: &str, role: &str) {
    let (_, body) = server
        .graphql_as(
            root,
            "mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { done } }",
            json!({ "input": { "accountId": account, "role": role, "marketCode": MARKET } }),
        )
        .await;
    assert_eq!(body["data"]["assignRole"]["done"], true, "{body}");
}

async fn cast(db: &TestDb) -> Cast {
    cast_with(db, &[]).await
}

/// The cast on a server started with extra settings.
async fn cast_with(db: &TestDb, settings: &[(&str, &str)]) -> Cast {
    let (server, root) = market_with(db, settings).await;
    let (_, shrimp) = seafood(&server, &root).await;
    let fish = category(&server, &root, json!({ "marketCode": MARKET, "code": "fish", "nameZh": "鱼", "nameEn": "Fish", "fresh": true })).await;
    let (crayfish_shop, owner) = shop(&server, db, &root, "crayfish@shiji.example", "active").await;
    let (bass_shop, bass_owner) = shop(&server, db, &root, "bass@shiji.example", "active").await;
    let crayfish_variant = listed(&server, &owner, crayfish(&crayfish_shop, &shrimp), 20).await;
    let bass_variant = listed(&server, &bass_owner, bass(&bass_shop, &fish), 20).await;
    let (_, customer) = signed_up(&server, db, "customer@shiji.example").await;
    let (station_account, station) = signed_up(&server, db, "station@shiji.example").await;
    grant(&server, &root, &station_account, "station_staff").await;
    let (courier_account, courier) = signed_up(&server, db, "courier@shiji.example").await;
    grant(&server, &root, &courier_account, "courier").await;
    Cast {
        server,
        root,
        customer,
        station,
        courier,
        owner,
        crayfish: crayfish_variant,
        bass: bass_variant,
    }
}

pub(crate) fn checkout_input(
    key: &str,
    mode: &str,
    slot: Option<&str>,
    provider: &str,
    outcome: Option<&str>,
) -> Value {
    json!({
        "idempotencyKey": key, "mode": mode, "slotId": slot,
        "recipient": { "name": "王小明", "phone": "13812345678", "address": "潜江市园林街道 1 号",
            "location": { "latitude": 30.401, "longitude": 112.9 } },
        "payment": { "provider": provider, "testOutcome": outcome }
    })
}

async fn fill_cart(c: &Cast) {
    for (variant, qty) in [(&c.crayfish, 2), (&c.bass, 2)] {
        let (_, body) = c
            .server
            .graphql_as(
                &c.customer,
                ADD,
                json!({ "m": MARKET, "v": variant, "q": qty }),
            )
            .await;
        assert_eq!(body["data"]["addToCart"]["userErrors"], json!([]), "{body}");
    }
}

async fn run_step(c: &Cast, token: &str, mutation: &str, args: &str) -> Value {
    let (_, body) = c
        .server
        .graphql_as(token, &step(mutation, args), json!({}))
        .await;
    body
}

pub(crate) fn ok_order(body: &Value, mutation: &str) -> Value {
    let payload = &body["data"][mutation];
    assert_eq!(payload["userErrors"], json!([]), "{mutation}: {body}");
    payload["order"].clone()
}

pub(crate) fn code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn statuses(order: &Value) -> Vec<String> {
    order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends! {
    async fn an_order_lives_its_whole_life_in_every_delivery_mode(db: TestDb) {
        let c = cast(&db).await;
        let starts = shiji::store::rfc3339(shiji::store::now_ms() + 2 * 3_600_000);
        let ends = shiji::store::rfc3339(shiji::store::now_ms() + 3 * 3_600_000);
        let (_, body) = c.server.graphql_as(&c.root, "mutation($m: String!, $s: DateTime!, $e: DateTime!) {
            createDeliverySlot(market: $m, startsAt: $s, endsAt: $e, capacity: 5) { slot { id capacity booked } userErrors { code } } }",
            json!({ "m": MARKET, "s": starts, "e": ends })).await;
        let slot = body["data"]["createDeliverySlot"]["slot"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();

        for (i, mode) in ["INSTANT", "NEXT_DAY", "SLOT"].into_iter().enumerate() {
            fill_cart(&c).await;
            let (_, body) = c.server.graphql_as(&c.customer, "query($m: String!) { cart(market: $m) { lines { quantity subtotalFen } subtotalFen totalFen } }", json!({ "m": MARKET })).await;
            // 2 boxes at ¥45 and 2 fish of about 500 g at ¥40/kg.
            assert_eq!(body["data"]["cart"]["subtotalFen"], 9_000 + 4_000, "{body}");

            let slot_id = (mode == "SLOT").then_some(slot.as_str());
            let input = checkout_input(&format!("life-{i}"), mode, slot_id, "TEST_GATEWAY", Some("SUCCEED"));
            let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
            let order = ok_order(&body, "checkout");
            let id = order["id"].as_str().unwrap().to_string();
            assert_eq!(order["status"], "PAID", "{body}");
            assert_eq!(order["deliveryMode"], mode);
            assert_eq!(order["parts"].as_array().unwrap().len(), 2, "a part per merchant: {body}");
            assert_eq!((order["totalFen"].as_i64(), order["paidFen"].as_i64(), order["deliveryFeeFen"].as_i64()), (Some(13_000), Some(13_000), Some(0)), "{body}");
            assert_eq!(order["recipient"]["phone"], "13812345678", "the customer sees their own number");
            assert_eq!(statuses(&order), ["PLACED", "PAID"]);
            assert!(order["verifyBy"].is_string());
            if mode == "SLOT" {
                assert_eq!(order["slotId"], slot.as_str());
                assert_eq!(order["deliverFrom"], starts.as_str());
            }
            let (_, body) = c.server.graphql_as(&c.customer, "query($m: String!) { cart(market: $m) { lines { quantity } } }", json!({ "m": MARKET })).await;
            assert_eq!(body["data"]["cart"]["lines"], json!([]), "checkout empties the cart");

            // The wrong people are refused at every step.
            let args = format!("orderId: \"{id}\"");
            assert_eq!(code(&run_step(&c, &c.customer, "acceptOrder", &args).await), "FORBIDDEN");
            assert_eq!(code(&run_step(&c, &c.courier, "acceptOrder", &args).await), "FORBIDDEN");
            assert_eq!(code(&run_step(&c, &c.owner, "acceptOrder", &args).await), "FORBIDDEN");
            let order = ok_order(&run_step(&c, &c.station, "acceptOrder", &args).await, "acceptOrder");
            assert_eq!(order["status"], "ACCEPTED");
            assert_eq!(order["recipient"]["phone"], "13812345678", "station staff see the number to call");
            let again = run_step(&c, &c.station, "acceptOrder", &args).await;
            assert_eq!(again["data"]["acceptOrder"]["userErrors"][0]["code"], "INVALID_ORDER_STATE", "{again}");

            ok_order(&run_step(&c, &c.station, "startPicking", &args).await, "startPicking");
            let lines = order["lines"].as_array().unwrap().clone();
            let crayfish_line = lines.iter().find(|l| l["soldByWeight"] == false).unwrap()["id"].as_str().unwrap().to_string();
            let bass_line = lines.iter().find(|l| l["soldByWeight"] == true).unwrap();
            assert_eq!(bass_line["estimatedWeightGrams"], 1000);
            let bass_line = bass_line["id"].as_str().unwrap().to_string();
            assert_eq!(code(&run_step(&c, &c.courier, "recordPick", &format!("{args}, lineId: \"{crayfish_line}\"")).await), "FORBIDDEN");
            let unweighed = run_step(&c, &c.station, "recordPick", &format!("{args}, lineId: \"{bass_line}\"")).await;
            assert_eq!(unweighed["data"]["recordPick"]["userErrors"][0]["code"], "WEIGHT_REQUIRED", "{unweighed}");
            let early = run_step(&c, &c.station, "packOrder", &args).await;
            assert_eq!(early["data"]["packOrder"]["userErrors"][0]["code"], "LINES_NOT_PICKED", "{early}");
            ok_order(&run_step(&c, &c.station, "recordPick", &format!("{args}, lineId: \"{crayfish_line}\"")).await, "recordPick");
            // The fish weigh 850 g, not 1 kg: ¥34.00, and ¥6.00 goes back at once.
            let order = ok_order(&run_step(&c, &c.station, "recordPick", &format!("{args}, lineId: \"{bass_line}\", weightGrams: 850")).await, "recordPick");
            let weighed = order["lines"].as_array().unwrap().iter().find(|l| l["id"] == bass_line.as_str()).unwrap().clone();
            assert_eq!((weighed["pickedWeightGrams"].as_i64(), weighed["finalFen"].as_i64()), (Some(850), Some(3_400)), "{order}");
            assert_eq!(order["refundedFen"], 600, "{order}");
            assert_eq!(order["refunds"], json!([{ "kind": "WEIGHT_DIFFERENCE", "amountFen": 600, "reason": "weight difference at picking / 称重差价退款" }]));

            let order = ok_order(&run_step(&c, &c.station, "packOrder", &args).await, "packOrder");
            assert_eq!(order["status"], "PACKED");
            assert_eq!(code(&run_step(&c, &c.customer, "dispatchOrder", &format!("{args}, carrier: \"me\"")).await), "FORBIDDEN");
            let order = ok_order(&run_step(&c, &c.courier, "dispatchOrder", &format!("{args}, carrier: \"站点自配送\", trackingNumber: \"QJ-{i}\"")).await, "dispatchOrder");
            assert_eq!((order["status"].as_str(), order["carrier"].as_str()), (Some("OUT_FOR_DELIVERY"), Some("站点自配送")));

            let unproven = run_step(&c, &c.courier, "deliverOrder", &format!("{args}, proofMediaIds: []")).await;
            assert_eq!(unproven["data"]["deliverOrder"]["userErrors"][0]["code"], "PROOF_REQUIRED", "{unproven}");
            let (_, uploaded) = upload(&c.server, Some(&c.courier), "IMAGE", "doorstep.png", png(8, 8)).await;
            let photo = uploaded["data"]["uploadMedia"]["media"]["id"].as_str().unwrap_or_else(|| panic!("{uploaded}")).to_string();
            let order = ok_order(&run_step(&c, &c.courier, "deliverOrder", &format!("{args}, proofMediaIds: [\"{photo}\"]")).await, "deliverOrder");
            assert_eq!(order["proofMediaIds"], json!([photo]));
            let order = ok_order(&run_step(&c, &c.customer, "completeOrder", &args).await, "completeOrder");
            assert_eq!(statuses(&order), ["PLACED", "PAID", "ACCEPTED", "PICKING", "PACKED", "OUT_FOR_DELIVERY", "DELIVERED", "COMPLETED"]);

            // Every step is in the outbox and in the audit log.
            let events = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE subject_id = $1", &id).await.unwrap();
            assert_eq!(events, "9", "8 steps and one refund");
            let audited = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE object_id = $1 AND action LIKE 'order.%'", &id).await.unwrap();
            assert!(audited.parse::<i64>().unwrap() >= 10, "{audited}");
        }

        // Three orders took 2 boxes and 2 fish each off the shelf; the slot has one booking.
        let on_hand = sql_text(&db, "SELECT CAST(on_hand AS TEXT) || '/' || CAST(reserved AS TEXT) FROM product_variants WHERE id = $1", &c.crayfish).await.unwrap();
        assert_eq!(on_hand, "14/0");
        let (_, body) = c.server.graphql(&format!("{{ deliverySlots(market: \"{MARKET}\") {{ id booked }} }}"), json!({})).await;
        assert_eq!(body["data"]["deliverySlots"][0]["booked"], 1, "{body}");
        let sold = sql_text(&db, "SELECT CAST(sales_count AS TEXT) FROM products WHERE id = (SELECT product_id FROM product_variants WHERE id = $1)", &c.crayfish).await.unwrap();
        assert_eq!(sold, "6");
    }
}

on_both_backends! {
    async fn checkout_is_idempotent_and_payment_failures_leave_the_order_to_pay(db: TestDb) {
        let c = cast(&db).await;
        fill_cart(&c).await;
        let input = checkout_input("same-key", "INSTANT", None, "TEST_GATEWAY", Some("FAIL"));
        let (_, first) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
        let order = ok_order(&first, "checkout");
        assert_eq!(order["status"], "PLACED", "a declined payment leaves it placed: {first}");
        assert_eq!(order["payments"][0]["status"], "FAILED");
        assert_eq!(first["data"]["checkout"]["replayed"], false);
        // The retry (cart now empty) answers the first order and makes no second one.
        let (_, retry) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
        assert_eq!(retry["data"]["checkout"]["replayed"], true, "{retry}");
        assert_eq!(retry["data"]["checkout"]["order"]["id"], order["id"]);
        let count = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders WHERE idempotency_key = $1", "same-key").await.unwrap();
        assert_eq!(count, "1");

        // Pay again: a timeout first (the engine gives up), then success.
        let id = order["id"].as_str().unwrap();
        let pay = |key: &str, outcome: &str| format!("mutation {{ payOrder(orderId: \"{id}\", idempotencyKey: \"{key}\", payment: {{provider: TEST_GATEWAY, testOutcome: {outcome}}}) {{ order {{ {ORDER} }} userErrors {{ code }} }} }}");
        let (_, body) = c.server.graphql_as(&c.customer, &pay("pay-2", "TIME_OUT"), json!({})).await;
        let order = ok_order(&body, "payOrder");
        assert_eq!(order["status"], "PLACED");
        assert_eq!(order["payments"][1]["status"], "TIMED_OUT", "{body}");
        let (_, body) = c.server.graphql_as(&c.customer, &pay("pay-3", "SUCCEED"), json!({})).await;
        let order = ok_order(&body, "payOrder");
        assert_eq!((order["status"].as_str(), order["paidFen"].as_i64()), (Some("PAID"), Some(13_000)), "{body}");
        // Replaying a settled payment key changes nothing; paying twice is refused.
        let (_, body) = c.server.graphql_as(&c.customer, &pay("pay-4", "SUCCEED"), json!({})).await;
        assert_eq!(body["data"]["payOrder"]["userErrors"][0]["code"], "ORDER_ALREADY_PAID", "{body}");

        // Refunds never exceed what was paid, and one key refunds once.
        let refund = |key: &str, amount: i64| format!("mutation {{ refundOrder(input: {{orderId: \"{id}\", amountFen: {amount}, kind: PARTIAL, reason: \"少发一只\", idempotencyKey: \"{key}\"}}) {{ order {{ refundedFen refunds {{ amountFen }} }} userErrors {{ code }} }} }}");
        let (_, body) = c.server.graphql_as(&c.customer, &refund("r1", 100), json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "customers do not refund themselves: {body}");
        let (_, body) = c.server.graphql_as(&c.root, &refund("r1", 1_000), json!({})).await;
        assert_eq!(body["data"]["refundOrder"]["order"]["refundedFen"], 1_000, "{body}");
        let (_, body) = c.server.graphql_as(&c.root, &refund("r1", 1_000), json!({})).await;
        assert_eq!(body["data"]["refundOrder"]["order"]["refundedFen"], 1_000, "the same key refunds once: {body}");
        let (_, body) = c.server.graphql_as(&c.root, &refund("r2", 12_001), json!({})).await;
        assert_eq!(body["data"]["refundOrder"]["userErrors"][0]["code"], "REFUND_EXCEEDS_PAID", "{body}");

        // The customer cancels before verification: stock goes back, the rest is refunded.
        let body = run_step(&c, &c.customer, "cancelOrder", &format!("orderId: \"{id}\", reason: \"不要了\"")).await;
        let order = ok_order(&body, "cancelOrder");
        assert_eq!((order["status"].as_str(), order["refundedFen"].as_i64()), (Some("CANCELLED"), Some(13_000)), "{body}");
        let stock = sql_text(&db, "SELECT CAST(on_hand - reserved AS TEXT) FROM product_variants WHERE id = $1", &c.crayfish).await.unwrap();
        assert_eq!(stock, "20");
    }
}

on_both_backends! {
    async fn fifty_concurrent_checkouts_for_ten_units_sell_exactly_ten(db: TestDb) {
        use shiji::caller::{Actor, Caller};
        use shiji::orders::{CheckoutInput, DeliveryMode, PaymentChoice, ProviderKind, Recipient};

        let c = cast(&db).await;
        sql_exec(&db, &format!("UPDATE product_variants SET on_hand = 10 WHERE id = '{}'", c.crayfish)).await.unwrap();
        let mut config = shiji::config::Config { data_dir: db.data_dir.path().to_path_buf(), ..Default::default() };
        config.database.url = db.url.clone();
        config.database.max_connections = 8;
        let store = shiji::server::open_store(&config).await.expect("store");
        let services = shiji::server::build_services(&config, store).await.expect("services");

        // Fifty customers each put one box in their cart while ten are on the shelf.
        let template = sql_text(&db, "SELECT password_hash FROM accounts WHERE email = $1", "customer@shiji.example").await.unwrap();
        let mut callers = Vec::new();
        for i in 0..50 {
            let account = uuid::Uuid::new_v4().to_string();
            sql_exec(&db, &format!("INSERT INTO accounts (id, email, password_hash, password_changed_at, created_at, updated_at) VALUES ('{account}', 'race{i}@shiji.example', '{template}', 0, 0, 0)")).await.unwrap();
            let caller = Caller { actor: Actor::Account { account_id: account, session_id: "test".into() }, ..Caller::anonymous() };
            services.orders.change_cart(&caller, MARKET, &c.crayfish, 1, true).await.expect("cart");
            callers.push(caller);
        }
        let tasks: Vec<_> = callers.into_iter().enumerate().map(|(i, caller)| {
            let orders = services.orders.clone();
            tokio::spawn(async move {
                let input = CheckoutInput {
                    idempotency_key: format!("race-{i}"),
                    mode: DeliveryMode::Instant,
                    slot_id: None,
                    recipient: Recipient { name: "顾客".into(), phone: "13800000000".into(), address: "潜江".into(), latitude: 30.4, longitude: 112.9 },
                    payment: PaymentChoice { provider: ProviderKind::Cash, test_outcome: None },
                };
                orders.checkout(&caller, MARKET, input).await
            })
        }).collect();
        let (mut sold, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(outcome) => { assert_eq!(outcome.order.row.status, "paid"); sold += 1 }
                Err(shiji::service_error::ServiceError::Rejected(e)) => { assert_eq!(e[0].code, "INSUFFICIENT_STOCK"); refused += 1 }
                Err(other) => panic!("checkout failed: {other}"),
            }
        }
        assert_eq!((sold, refused), (10, 40));
        let stock = sql_text(&db, "SELECT CAST(on_hand AS TEXT) || '/' || CAST(reserved AS TEXT) FROM product_variants WHERE id = $1", &c.crayfish).await.unwrap();
        assert_eq!(stock, "10/10");
        let orders = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders WHERE market_code = $1", MARKET).await.unwrap();
        let payments = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM payments WHERE status = $1", "succeeded").await.unwrap();
        assert_eq!((orders.as_str(), payments.as_str()), ("10", "10"), "no half-written order, one payment each");
    }
}

on_both_backends! {
    async fn a_failing_pricing_plugin_leaves_checkout_at_undiscounted_prices(db: TestDb) {
        let c = cast(&db).await;
        for (wasm, manifest) in [("hostile_plugin", hostile_manifest()), ("hello_plugin", hello_manifest())] {
            let installed = install(&c.server, &c.root, artifact(wasm), &manifest, &["storage"]).await;
            assert_eq!(installed["userErrors"], json!([]), "{installed}");
        }
        // Its price adjustments break the rules (negative prices): dropped.
        let on = enable(&c.server, &c.root, MARKET, "hostile", json!({ "behaviour": "negative-price" })).await;
        assert_eq!(on["userErrors"], json!([]), "{on}");
        fill_cart(&c).await;
        let input = checkout_input("plugins-1", "INSTANT", None, "CASH", None);
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
        let order = ok_order(&body, "checkout");
        assert_eq!(body["data"]["checkout"]["pricingFallbacks"], json!(["hostile"]), "{body}");
        assert_eq!((order["status"].as_str(), order["totalFen"].as_i64(), order["adjustmentFen"].as_i64()), (Some("PAID"), Some(13_000), Some(0)), "{body}");
        assert_eq!(order["deliveryQuotedBy"], "market", "its negative delivery fee is dropped too");
        assert_eq!(order["payments"][0]["provider"], "CASH");

        // An honest plugin beside it still gives its discount: 10 % off the
        // special line. (Every cart view prices with the plugins too, so by now
        // the breaker has switched the failing one off; enabling it again
        // resets the breaker.)
        enable(&c.server, &c.root, MARKET, "hello", json!({ "discountPercent": 10 })).await;
        fill_cart(&c).await;
        enable(&c.server, &c.root, MARKET, "hostile", json!({ "behaviour": "negative-price" })).await;
        let input = checkout_input("plugins-2", "INSTANT", None, "CASH", None);
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
        let order = ok_order(&body, "checkout");
        assert_eq!(body["data"]["checkout"]["pricingFallbacks"], json!(["hostile"]), "{body}");
        assert_eq!((order["totalFen"].as_i64(), order["adjustmentFen"].as_i64()), (Some(12_100), Some(-900)), "{body}");
        let line = order["lines"].as_array().unwrap().iter().find(|l| l["soldByWeight"] == false).unwrap();
        assert_eq!((line["subtotalFen"].as_i64(), line["totalFen"].as_i64()), (Some(9_000), Some(8_100)));

        // A validating plugin that says no refuses the checkout, and nothing is written.
        enable(&c.server, &c.root, MARKET, "hostile", json!({ "behaviour": "violation" })).await;
        fill_cart(&c).await;
        let input = checkout_input("plugins-3", "INSTANT", None, "CASH", None);
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": input })).await;
        assert_eq!(body["data"]["checkout"]["order"], Value::Null, "{body}");
        assert_eq!(body["data"]["checkout"]["userErrors"][0]["code"], "hostile-says-no", "{body}");
        let count = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders WHERE idempotency_key = $1", "plugins-3").await.unwrap();
        assert_eq!(count, "0");
    }
}

/// `HH:MM` in Shanghai, `hours` from now.
fn local_time(hours: i64) -> String {
    let ms = shiji::store::now_ms() + (8 + hours) * 3_600_000;
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

on_both_backends! {
    async fn orders_outside_hours_are_refused_or_moved_and_late_verification_alerts_admins(db: TestDb) {
        let c = cast_with(&db, &[("SHIJI_ORDERS_VERIFY_WITHIN_SECS", "1"), ("SHIJI_ORDERS_VERIFICATION_SWEEP_SECS", "1")]).await;
        let hours = json!([{ "opens": local_time(2), "closes": local_time(3) }]);
        let update = "mutation($m: String!, $input: UpdateMarketInput!) { updateMarket(code: $m, input: $input) { userErrors { code field } } }";
        let refuse = json!({ "orderTakingHours": hours, "delivery": { "freeDeliveryDistanceMeters": 3000, "minimumOrderFen": 0, "outsideOrderHours": "REFUSE" } });
        let (_, body) = c.server.graphql_as(&c.root, update, json!({ "m": MARKET, "input": refuse })).await;
        assert_eq!(body["data"]["updateMarket"]["userErrors"], json!([]), "{body}");
        fill_cart(&c).await;
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": checkout_input("closed", "INSTANT", None, "CASH", None) })).await;
        assert_eq!(body["data"]["checkout"]["userErrors"][0]["code"], "OUTSIDE_ORDER_HOURS", "{body}");

        let moved = json!({ "orderTakingHours": hours, "delivery": { "freeDeliveryDistanceMeters": 3000, "minimumOrderFen": 0, "outsideOrderHours": "NEXT_SLOT" } });
        c.server.graphql_as(&c.root, update, json!({ "m": MARKET, "input": moved })).await;
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": checkout_input("moved", "INSTANT", None, "CASH", None) })).await;
        let order = ok_order(&body, "checkout");
        assert!(order["movedReason"].is_string(), "{body}");
        let from = shiji::store::parse_rfc3339(order["deliverFrom"].as_str().unwrap()).unwrap();
        assert!(from > shiji::store::now_ms() + 3_600_000, "delivered after the market reopens: {body}");
        assert_eq!(order["timeline"][0]["note"], order["movedReason"], "the customer is told why");

        // Nobody verifies it: past the deadline it is flagged and the admins alerted.
        let id = order["id"].as_str().unwrap();
        let mut flagged = Value::Null;
        for _ in 0..40 {
            let (_, body) = c.server.graphql_as(&c.station, "query($m: String!) { marketOrders(market: $m, lateOnly: true) { edges { node { id lateFlaggedAt } } } }", json!({ "m": MARKET })).await;
            if let Some(edge) = body["data"]["marketOrders"]["edges"].as_array().and_then(|e| e.first()) {
                flagged = edge["node"].clone();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert_eq!(flagged["id"], id, "flagged as late within 10 s");
        let (_, body) = c.server.graphql_as(&c.root, "query($m: String!) { marketAlerts(market: $m) { kind subjectId message } }", json!({ "m": MARKET })).await;
        let alerts = body["data"]["marketAlerts"].as_array().unwrap().clone();
        assert_eq!(alerts.len(), 1, "one alert per order, however often the clock runs: {body}");
        assert_eq!((alerts[0]["kind"].as_str(), alerts[0]["subjectId"].as_str()), (Some("order.verification_late"), Some(id)));
        let (_, body) = c.server.graphql_as(&c.customer, "query($m: String!) { marketAlerts(market: $m) { kind } }", json!({ "m": MARKET })).await;
        assert_eq!(code(&body), "FORBIDDEN", "customers see no alerts");
        let events = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE subject_id = $1 AND kind = 'order.verification_late'", id).await.unwrap();
        assert_eq!(events, "1", "announced once to plugins and webhooks");
        // Accepting late still works, and says it was late.
        let order = ok_order(&run_step(&c, &c.station, "acceptOrder", &format!("orderId: \"{id}\"")).await, "acceptOrder");
        assert_eq!(order["status"], "ACCEPTED");
    }
}

on_both_backends! {
    async fn a_server_killed_mid_checkout_leaves_whole_orders_or_none(db: TestDb) {
        let mut c = cast(&db).await;
        sql_exec(&db, &format!("UPDATE product_variants SET on_hand = 1000 WHERE id = '{}'", c.crayfish)).await.unwrap();
        let mut customers = vec![c.customer.clone()];
        for i in 0..3 {
            customers.push(signed_up(&c.server, &db, &format!("load{i}@shiji.example")).await.1);
        }
        // Four customers check out one box after another, as fast as they can.
        let url = c.server.url("/graphql");
        let checkout = checkout_query();
        let load: Vec<_> = customers.into_iter().enumerate().map(|(n, token)| {
            let (http, url, checkout, variant) = (c.server.http.clone(), url.clone(), checkout.clone(), c.crayfish.clone());
            tokio::spawn(async move {
                let post = |query: String, variables: Value| {
                    http.post(&url).bearer_auth(&token).json(&json!({ "query": query, "variables": variables })).send()
                };
                let mut placed = 0;
                for i in 0..10_000 {
                    if post(ADD.to_string(), json!({ "m": MARKET, "v": variant, "q": 1 })).await.is_err() { break; }
                    let input = checkout_input(&format!("kill-{n}-{i}"), "INSTANT", None, "CASH", None);
                    match post(checkout.clone(), json!({ "m": MARKET, "input": input })).await {
                        Ok(_) => placed += 1,
                        Err(_) => break,
                    }
                }
                placed
            })
        }).collect();
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let killed = std::process::Command::new("kill").args(["-9", &c.server.pid().to_string()]).status().unwrap();
        assert!(killed.success());
        // Killed by a signal, it has no exit code; it no longer answers.
        c.server.wait(std::time::Duration::from_secs(10)).await;
        assert!(c.server.http.get(c.server.url("/healthz")).send().await.is_err(), "the server died");
        let mut answered = 0;
        for task in load { answered += task.await.unwrap(); }
        assert!(answered > 0, "the load ran before the kill");

        // Every order is whole: lines written with it, stock reserved for it.
        let orders: i64 = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders WHERE market_code = $1", MARKET).await.unwrap().parse().unwrap();
        assert!(orders >= answered as i64 - 4, "{orders} orders for {answered} answered checkouts");
        let hollow = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders o WHERE o.market_code = $1 AND NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)", MARKET).await.unwrap();
        assert_eq!(hollow, "0", "no order without its lines");
        let sold = sql_text(&db, "SELECT CAST(COALESCE(SUM(quantity), 0) AS TEXT) FROM order_lines WHERE variant_id = $1", &c.crayfish).await.unwrap();
        let shelf = sql_text(&db, "SELECT CAST(on_hand - reserved AS TEXT) FROM product_variants WHERE id = $1", &c.crayfish).await.unwrap();
        assert_eq!(shelf.parse::<i64>().unwrap() + sold.parse::<i64>().unwrap(), 1000, "stock + sold = initial");
        assert_eq!(sold.parse::<i64>().unwrap(), orders, "one box an order");
        // Payments match orders: every paid order has exactly one succeeded payment, and no payment lacks its order's status.
        let paid = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders WHERE status = $1", "paid").await.unwrap();
        let succeeded = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM payments WHERE status = $1", "succeeded").await.unwrap();
        assert_eq!(paid, succeeded, "payments = paid orders");
        let mismatched = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM orders o WHERE o.status = $1 AND o.paid_fen <> o.total_fen", "paid").await.unwrap();
        assert_eq!(mismatched, "0");

        // After a restart the engine serves again and an interrupted customer can go on.
        c.server = Server::start(&db, &[]).await;
        fill_cart(&c).await;
        let (_, body) = c.server.graphql_as(&c.customer, &checkout_query(), json!({ "m": MARKET, "input": checkout_input("after-restart", "INSTANT", None, "CASH", None) })).await;
        assert_eq!(ok_order(&body, "checkout")["status"], "PAID", "{body}");
    }
}

/// Every field of an order a client can ask for.
const WHOLE_ORDER: &str = "id number market status deliveryMode slotId deliverFrom deliverUntil movedReason
  recipient { name phone address distanceMeters } deliveryQuotedBy
  parts { merchantId subtotalFen }
  lines { id merchantId productId variantId productName variantName skuCode soldByWeight unitPriceFen
    quantity estimatedWeightGrams subtotalFen adjustmentFen totalFen pickedWeightGrams pickedAt finalFen }
  adjustments { plugin lineId code amountFen reason }
  subtotalFen adjustmentFen deliveryFeeFen totalFen paidFen refundedFen
  payments { id provider status amountFen failure createdAt } refunds { kind amountFen reason }
  timeline { status at note } placedAt verifyBy lateFlaggedAt carrier trackingNumber proofMediaIds";

on_both_backends! {
    async fn the_checkout_answer_is_the_order_as_read_back(db: TestDb) {
        // Checkout answers from the rows it just wrote; a read of the same
        // order must give the customer exactly the same thing, whichever
        // way the payment went.
        let c = cast(&db).await;
        let installed = install(&c.server, &c.root, artifact("hello_plugin"), &hello_manifest(), &["storage"]).await;
        assert_eq!(installed["userErrors"], json!([]), "{installed}");
        enable(&c.server, &c.root, MARKET, "hello", json!({ "discountPercent": 10 })).await;
        let checkout = format!(
            "mutation($m: String!, $input: CheckoutInput!) {{ checkout(market: $m, input: $input) {{
  order {{ {WHOLE_ORDER} }} replayed userErrors {{ code field message }} }} }}"
        );
        let read = format!("query($id: ID!) {{ order(id: $id) {{ {WHOLE_ORDER} }} }}");
        for (key, provider, outcome, status, events, audited) in [
            ("answer-cash", "CASH", None, "PAID", 2, 4),
            ("answer-gateway", "TEST_GATEWAY", Some("SUCCEED"), "PAID", 2, 4),
            ("answer-declined", "TEST_GATEWAY", Some("FAIL"), "PLACED", 2, 3),
        ] {
            fill_cart(&c).await;
            let input = checkout_input(key, "INSTANT", None, provider, outcome);
            let (_, body) = c.server.graphql_as(&c.customer, &checkout, json!({ "m": MARKET, "input": input })).await;
            let answered = ok_order(&body, "checkout");
            assert_eq!(answered["status"], status, "{key}: {body}");
            assert_eq!(answered["adjustments"].as_array().map(Vec::len), Some(1), "{key}: the plugin's discount is on it: {body}");
            assert_eq!(answered["parts"].as_array().map(Vec::len), Some(2), "{key}: one part per shop");
            let id = answered["id"].as_str().unwrap();
            let (_, body) = c.server.graphql_as(&c.customer, &read, json!({ "id": id })).await;
            assert_eq!(body["data"]["order"], answered, "{key}: the read differs from the checkout's answer");
            // Its timeline, outbox events and audit trail were written with it.
            let outbox = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE subject_id = $1", id).await.unwrap();
            assert_eq!(outbox, events.to_string(), "{key}: outbox events");
            let audit = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE object_id = $1 OR after_state LIKE '%' || $1 || '%'", id).await.unwrap();
            assert_eq!(audit, audited.to_string(), "{key}: audit records");
        }
    }
}

on_both_backends! {
    async fn ten_adds_at_once_put_ten_in_the_cart(db: TestDb) {
        // A customer tapping "add" quickly sends changes of the same line
        // that overlap: none may be lost, none may fail.
        let c = cast(&db).await;
        let taps = (0..10).map(|_| {
            c.server.graphql_as(&c.customer, ADD, json!({ "m": MARKET, "v": c.crayfish, "q": 1 }))
        });
        for (_, body) in futures_util::future::join_all(taps).await {
            assert_eq!(body["data"]["addToCart"]["userErrors"], json!([]), "{body}");
        }
        let (_, body) = c.server.graphql_as(&c.customer, "query($m: String!) { cart(market: $m) { lines { variantId quantity } } }", json!({ "m": MARKET })).await;
        assert_eq!(body["data"]["cart"]["lines"], json!([{ "variantId": c.crayfish, "quantity": 10 }]), "{body}");
        let audited = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE action = $1", "cart.change").await.unwrap();
        assert_eq!(audited, "10", "one audit record per change that was made");
    }
}
