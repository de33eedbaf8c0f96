//! The catalogue as a merchant and a shopper use it: categories with typed
//! attributes, products with variants, prices and their history, stock,
//! Chinese search that answers the same on both backends, the home feed, and
//! reservations that never oversell.

use serde_json::{Value, json};

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up, sql_exec};
use crate::support::{Server, TestDb, first_code};

pub const MARKET: &str = "qianjiang";

const CREATE_CATEGORY: &str = "mutation($input: CreateCategoryInput!) { createCategory(input: $input) {
  category { id code fresh attributes { name type allowedValues required } } userErrors { code field message } } }";

const FIELDS: &str = "id name status suspendedReason merchantId lowestPriceFen
  attributes { name value }
  variants { id skuCode name priceFen soldByWeight estimatedWeightG
    stock { available lowStock onHand reserved lowStockThreshold } }";

fn create_product_query() -> String {
    format!(
        "mutation($input: CreateProductInput!) {{ createProduct(input: $input) {{ product {{ {FIELDS} }} userErrors {{ code field message }} }} }}"
    )
}

fn product_query() -> String {
    format!("query($id: ID!) {{ product(id: $id) {{ {FIELDS} }} }}")
}

const STATUS: &str =
    "mutation($id: ID!, $status: ProductStatus!) { setProductStatus(id: $id, status: $status) {
  product { status } userErrors { code field message } } }";

const ADJUST: &str = "mutation($id: ID!, $delta: Int!, $reason: StockReason!) { adjustStock(variantId: $id, delta: $delta, reason: $reason) {
  product { variants { stock { available lowStock onHand reserved } } } userErrors { code field } } }";

const SEARCH: &str =
    "query($filter: ProductFilter!, $sort: ProductSort, $first: Int, $after: String) {
  products(filter: $filter, sort: $sort, first: $first, after: $after) {
    edges { node { name } } pageInfo { hasNextPage endCursor } } }";

const FEED: &str = "query($first: Int, $after: String) { homeFeed(market: \"qianjiang\", first: $first, after: $after) {
  edges { node { name } } pageInfo { hasNextPage endCursor } } }";

/// A server with market `qianjiang` and a signed-in platform administrator.
pub async fn market(db: &TestDb) -> (Server, String) {
    market_with(db, &[]).await
}

/// The same, on a server started with extra settings.
pub async fn market_with(db: &TestDb, settings: &[(&str, &str)]) -> (Server, String) {
    let server = Server::start(db, settings).await;
    bootstrap_admin(db, "root@shiji.example").await;
    let root = login(&server, db, "root@shiji.example", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    create_market(&server, &root, MARKET).await;
    (server, root)
}

/// A shop in the market in `status`, owned by a new account; (merchant id, owner token).
/// Onboarding is its own feature: the shop is put in place directly.
pub async fn shop(
    server: &Server,
    db: &TestDb,
    root: &str,
    login_name: &str,
    status: &str,
) -> (String, String) {
    let (account, token) = signed_up(server, db, login_name).await;
    let id = uuid::Uuid::new_v4().to_string();
    sql_exec(db, &format!(
        "INSERT INTO merchants (id, market_code, name, status, created_at, updated_at) VALUES ('{id}', '{MARKET}', '{login_name}', '{status}', 0, 0)"
    )).await.unwrap();
    sql_exec(db, &format!(
        "INSERT INTO merchant_members (merchant_id, account_id, role, added_at) VALUES ('{id}', '{account}', 'owner', 0)"
    )).await.unwrap();
    let (_, body) = server
        .graphql_as(root, "mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { done } }",
            json!({ "input": { "accountId": account, "role": "merchant_owner", "marketCode": MARKET } }))
        .await;
    assert_eq!(body["data"]["assignRole"]["done"], true, "{body}");
    (id, token)
}

/// Creates a category as `token`; its id.
pub async fn category(server: &Server, token: &str, input: Value) -> String {
    let (_, body) = server
        .graphql_as(token, CREATE_CATEGORY, json!({ "input": input }))
        .await;
    let payload = &body["data"]["createCategory"];
    assert_eq!(payload["userErrors"], json!([]), "{body}");
    payload["category"]["id"].as_str().unwrap().to_string()
}

/// The crayfish category tree: 水产 › 虾蟹 with colour and size grade.
pub async fn seafood(server: &Server, root: &str) -> (String, String) {
    let aquatic = category(server, root, json!({ "marketCode": MARKET, "code": "aquatic", "nameZh": "水产", "nameEn": "Aquatic", "fresh": true })).await;
    let shrimp = category(server, root, json!({
        "marketCode": MARKET, "parentId": aquatic, "code": "shrimp-crab", "nameZh": "虾蟹", "nameEn": "Shrimp and crab", "fresh": true,
        "attributes": [
            { "name": "颜色", "type": "ENUM", "allowedValues": ["青", "红"], "required": true },
            { "name": "规格", "type": "ENUM", "allowedValues": ["3-4两", "4-6两", "6两以上"] }
        ]
    })).await;
    (aquatic, shrimp)
}

fn crayfish(merchant: &str, category: &str) -> Value {
    json!({
        "merchantId": merchant, "categoryId": category, "name": "潜江清水小龙虾",
        "specification": "4-6两/只", "origin": { "province": "湖北", "city": "潜江", "county": "潜江市" },
        "description": "稻田养殖，鲜活发货", "unit": "JIN", "minimumPackage": "5斤装", "minimumOrderQuantity": 1,
        "seasonal": true, "afterSaleNote": "死虾包赔", "tags": ["当季"],
        "attributes": [{ "name": "颜色", "value": "青" }, { "name": "规格", "value": "4-6两" }],
        "variants": [{ "skuCode": "QJ-46-5", "name": "4-6两 / 5斤装", "priceFen": 4500, "lowStockThreshold": 3 }]
    })
}

async fn create(server: &Server, token: &str, input: Value) -> Value {
    let (_, body) = server
        .graphql_as(token, &create_product_query(), json!({ "input": input }))
        .await;
    body["data"]["createProduct"].clone()
}

fn with(mut input: Value, path: &[&str], value: Value) -> Value {
    let mut at = &mut input;
    for p in &path[..path.len() - 1] {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*p],
        };
    }
    at[path[path.len() - 1]] = value;
    input
}

fn names(body: &Value, field: &str) -> Vec<String> {
    body["data"][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends! {
    async fn merchants_keep_products_with_prices_and_stock(db: TestDb) {
        let (server, root) = market(&db).await;
        let (_, shrimp) = seafood(&server, &root).await;

        // Categories are the market's administrators' business, not a shop's.
        let (merchant, owner) = shop(&server, &db, &root, "qingshui@shiji.example", "contracted").await;
        let (_, body) = server.graphql_as(&owner, CREATE_CATEGORY, json!({ "input": { "marketCode": MARKET, "code": "x", "nameZh": "杂项" } })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let (_, body) = server.graphql("{ categories(market: \"qianjiang\") { edges { node { code parentId attributes { name allowedValues required } } } } }", json!({})).await;
        let tree = &body["data"]["categories"]["edges"];
        assert_eq!(tree.as_array().unwrap().len(), 2, "{body}");
        assert_eq!(tree[1]["node"]["attributes"][0]["allowedValues"], json!(["青", "红"]));

        // What a product must carry, each refusal naming the field at fault.
        let base = crayfish(&merchant, &shrimp);
        let cases = [
            (with(base.clone(), &["afterSaleNote"], json!("")), "AFTER_SALE_NOTE_REQUIRED", json!(["input", "afterSaleNote"])),
            (with(base.clone(), &["attributes", "0", "value"], json!("蓝")), "INVALID_ATTRIBUTE_VALUE", json!(["input", "attributes", "颜色"])),
            (with(base.clone(), &["attributes"], json!([{ "name": "规格", "value": "4-6两" }])), "ATTRIBUTE_REQUIRED", json!(["input", "attributes", "颜色"])),
            (with(base.clone(), &["variants", "0", "priceFen"], json!(-5)), "INVALID_PRICE", json!(["input", "variants", "0", "priceFen"])),
            (with(base.clone(), &["minimumOrderQuantity"], json!(0)), "INVALID_MIN_ORDER_QUANTITY", json!(["input", "minimumOrderQuantity"])),
            (with(base.clone(), &["variants", "0", "soldByWeight"], json!(true)), "ESTIMATED_WEIGHT_REQUIRED", json!(["input", "variants", "0", "estimatedWeightG"])),
        ];
        for (input, code, field) in cases {
            let payload = create(&server, &owner, input).await;
            assert_eq!(payload["userErrors"][0]["code"], code, "{payload}");
            assert_eq!(payload["userErrors"][0]["field"], field, "{payload}");
            assert!(payload["product"].is_null());
        }
        let payload = create(&server, &owner, with(base.clone(), &["attributes", "0", "value"], json!("蓝"))).await;
        assert!(payload["userErrors"][0]["message"].as_str().unwrap().contains("颜色"), "{payload}");

        let payload = create(&server, &owner, base.clone()).await;
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        let product = payload["product"].clone();
        assert_eq!(product["status"], "DRAFT");
        let id = product["id"].as_str().unwrap().to_string();
        let variant = product["variants"][0]["id"].as_str().unwrap().to_string();

        // A draft is the shop's own: the public and other shops do not see it.
        let (_, body) = server.graphql(&product_query(), json!({ "id": id })).await;
        assert!(body["data"]["product"].is_null(), "{body}");
        let (_, rival) = shop(&server, &db, &root, "rival@shiji.example", "active").await;
        let (_, body) = server.graphql_as(&rival, &product_query(), json!({ "id": id })).await;
        assert!(body["data"]["product"].is_null(), "{body}");
        let (_, body) = server.graphql_as(&rival, "mutation($id: ID!) { updateProduct(id: $id, input: {name: \"抢来的虾\"}) { product { name } } }", json!({ "id": id })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let (_, body) = server.graphql_as(&rival, ADJUST, json!({ "id": variant, "delta": 5, "reason": "RESTOCK" })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let (_, body) = server.graphql_as(&rival, "query($m: ID!) { myProducts(merchant: $m) { edges { node { id } } } }", json!({ "m": merchant })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let (_, body) = server.graphql_as(&owner, "query($m: ID!) { myProducts(merchant: $m) { edges { node { id status } } } }", json!({ "m": merchant })).await;
        assert_eq!(body["data"]["myProducts"]["edges"][0]["node"]["id"], id.as_str(), "{body}");

        // Only an active shop lists products.
        let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
        assert_eq!(body["data"]["setProductStatus"]["userErrors"][0]["code"], "MERCHANT_NOT_ACTIVE", "{body}");
        sql_exec(&db, &format!("UPDATE merchants SET status = 'active' WHERE id = '{merchant}'")).await.unwrap();
        let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
        assert_eq!(body["data"]["setProductStatus"]["product"]["status"], "LISTED", "{body}");
        let (_, body) = server.graphql(&product_query(), json!({ "id": id })).await;
        let public = &body["data"]["product"];
        assert_eq!(public["name"], "潜江清水小龙虾", "{body}");
        assert_eq!(public["variants"][0]["stock"]["available"], 0);
        assert!(public["variants"][0]["stock"]["onHand"].is_null(), "stock counts are the shop's: {body}");

        // A new price is what everyone sees at once, and it is kept in the history.
        let (_, body) = server.graphql_as(&owner, "mutation($id: ID!) { updateProductVariant(id: $id, input: {priceFen: 3800}) { userErrors { code } } }", json!({ "id": variant })).await;
        assert_eq!(body["data"]["updateProductVariant"]["userErrors"], json!([]), "{body}");
        let (_, body) = server.graphql("query($id: ID!) { product(id: $id) { lowestPriceFen variants { priceFen priceHistory(first: 10) { edges { node { priceFen changedAt } } } } } }", json!({ "id": id })).await;
        let p = &body["data"]["product"];
        assert_eq!(p["lowestPriceFen"], 3800, "{body}");
        let history: Vec<i64> = p["variants"][0]["priceHistory"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["priceFen"].as_i64().unwrap()).collect();
        assert_eq!(history, vec![3800, 4500]);
        let (_, body) = server.graphql_as(&owner, "mutation($id: ID!) { updateProductVariant(id: $id, input: {priceFen: -1}) { userErrors { code } } }", json!({ "id": variant })).await;
        assert_eq!(body["data"]["updateProductVariant"]["userErrors"][0]["code"], "INVALID_PRICE", "{body}");

        // Stock: restock, damage, the low-stock flag, never below zero.
        let (_, body) = server.graphql_as(&owner, ADJUST, json!({ "id": variant, "delta": 10, "reason": "RESTOCK" })).await;
        let stock = &body["data"]["adjustStock"]["product"]["variants"][0]["stock"];
        assert_eq!((stock["available"].as_i64(), stock["lowStock"].as_bool(), stock["onHand"].as_i64()), (Some(10), Some(false), Some(10)), "{body}");
        let (_, body) = server.graphql_as(&owner, ADJUST, json!({ "id": variant, "delta": -8, "reason": "DAMAGE" })).await;
        let stock = &body["data"]["adjustStock"]["product"]["variants"][0]["stock"];
        assert_eq!((stock["available"].as_i64(), stock["lowStock"].as_bool()), (Some(2), Some(true)), "{body}");
        let (_, body) = server.graphql_as(&owner, ADJUST, json!({ "id": variant, "delta": -5, "reason": "COUNT_CORRECTION" })).await;
        assert_eq!(body["data"]["adjustStock"]["userErrors"][0]["code"], "INSUFFICIENT_STOCK", "{body}");
        let moves = crate::support::session::sql_text(&db, "SELECT reason FROM stock_movements WHERE variant_id = $1 ORDER BY moved_at DESC, id DESC", &variant).await;
        assert_eq!(moves.as_deref(), Some("damage"));

        // Suspension is the platform's to set, never the shop's.
        let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "SUSPENDED" })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    }
}

/// The fixed Chinese test catalogue: (name, category, origin, price, sales, colour, description).
type Listing = (
    &'static str,
    &'static str,
    [&'static str; 3],
    i64,
    i64,
    &'static str,
    &'static str,
);

const CATALOGUE: &[Listing] = &[
    (
        "潜江清水小龙虾",
        "shrimp",
        ["湖北", "潜江", "潜江市"],
        4500,
        50,
        "青",
        "稻田养殖",
    ),
    (
        "麻辣龙虾尾",
        "shrimp",
        ["湖北", "武汉", "江汉区"],
        6800,
        200,
        "红",
        "熟食，开袋即食",
    ),
    (
        "鲜活大闸蟹",
        "shrimp",
        ["江苏", "苏州", "相城区"],
        12000,
        80,
        "青",
        "阳澄湖产",
    ),
    (
        "洪湖莲藕",
        "veg",
        ["湖北", "洪湖", "洪湖市"],
        800,
        30,
        "",
        "粉糯",
    ),
    (
        "有机西兰花",
        "veg",
        ["山东", "潍坊", "寿光市"],
        600,
        10,
        "",
        "适合搭配龙虾",
    ),
];

on_both_backends! {
    async fn search_filters_sorts_and_the_home_feed_agree_on_both_backends(db: TestDb) {
        let (server, root) = market(&db).await;
        let (aquatic, shrimp) = seafood(&server, &root).await;
        let veg = category(&server, &root, json!({ "marketCode": MARKET, "code": "veg", "nameZh": "蔬菜", "nameEn": "Vegetables", "fresh": true })).await;
        let (merchant, owner) = shop(&server, &db, &root, "shop@shiji.example", "active").await;
        for (i, (name, cat, origin, price, sales, colour, description)) in CATALOGUE.iter().enumerate() {
            let category = if *cat == "shrimp" { &shrimp } else { &veg };
            let attributes = if colour.is_empty() { json!([]) } else { json!([{ "name": "颜色", "value": colour }]) };
            let payload = create(&server, &owner, json!({
                "merchantId": merchant, "categoryId": category, "name": name, "description": description,
                "origin": { "province": origin[0], "city": origin[1], "county": origin[2] },
                "unit": "JIN", "afterSaleNote": "坏果包赔", "attributes": attributes,
                "variants": [{ "skuCode": format!("S{i}"), "name": "标准装", "priceFen": price }]
            })).await;
            assert_eq!(payload["userErrors"], json!([]), "{payload}");
            let id = payload["product"]["id"].as_str().unwrap();
            let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
            assert_eq!(body["data"]["setProductStatus"]["product"]["status"], "LISTED", "{body}");
            sql_exec(&db, &format!("UPDATE products SET sales_count = {sales} WHERE id = '{id}'")).await.unwrap();
        }
        // A draft that would match everything below is never shown to the public.
        let payload = create(&server, &owner, json!({
            "merchantId": merchant, "categoryId": shrimp, "name": "小龙虾草稿", "origin": { "province": "湖北", "city": "潜江" },
            "unit": "JIN", "afterSaleNote": "包赔", "attributes": [{ "name": "颜色", "value": "青" }],
            "variants": [{ "skuCode": "D", "name": "草稿", "priceFen": 100 }]
        })).await;
        assert_eq!(payload["userErrors"], json!([]), "{payload}");

        let search = |filter: Value, sort: &str| {
            let server = &server;
            let sort = sort.to_string();
            async move {
                let mut filter = filter;
                filter["market"] = json!(MARKET);
                let (_, body) = server.graphql(SEARCH, json!({ "filter": filter, "sort": sort, "first": 50 })).await;
                names(&body, "products")
            }
        };
        assert_eq!(search(json!({ "query": "小龙虾" }), "RELEVANCE").await, vec!["潜江清水小龙虾"]);
        // Name matches first, then by sales; a description match last.
        assert_eq!(search(json!({ "query": "龙虾" }), "RELEVANCE").await, vec!["麻辣龙虾尾", "潜江清水小龙虾", "有机西兰花"]);
        // 蟹 is also in the category name 虾蟹: the name match ranks first.
        assert_eq!(search(json!({ "query": "蟹" }), "RELEVANCE").await, vec!["鲜活大闸蟹", "麻辣龙虾尾", "潜江清水小龙虾"]);
        assert_eq!(search(json!({ "query": "阳澄湖" }), "RELEVANCE").await, vec!["鲜活大闸蟹"]);
        assert!(search(json!({ "query": "牛排" }), "RELEVANCE").await.is_empty());
        assert_eq!(search(json!({ "query": "shrimp" }), "PRICE_ASC").await, vec!["潜江清水小龙虾", "麻辣龙虾尾", "鲜活大闸蟹"]);

        assert_eq!(search(json!({ "originProvince": "湖北" }), "PRICE_ASC").await, vec!["洪湖莲藕", "潜江清水小龙虾", "麻辣龙虾尾"]);
        assert_eq!(search(json!({ "originProvince": "湖北", "originCity": "潜江" }), "NEWEST").await, vec!["潜江清水小龙虾"]);
        assert_eq!(search(json!({ "category": aquatic }), "PRICE_DESC").await, vec!["鲜活大闸蟹", "麻辣龙虾尾", "潜江清水小龙虾"]);
        assert_eq!(search(json!({ "priceMinFen": 1000, "priceMaxFen": 7000 }), "PRICE_DESC").await, vec!["麻辣龙虾尾", "潜江清水小龙虾"]);
        assert_eq!(search(json!({ "attributes": [{ "name": "颜色", "value": "青" }] }), "NEWEST").await, vec!["鲜活大闸蟹", "潜江清水小龙虾"]);
        assert_eq!(search(json!({ "merchant": merchant }), "SALES").await, vec!["麻辣龙虾尾", "鲜活大闸蟹", "潜江清水小龙虾", "洪湖莲藕", "有机西兰花"]);

        // Walking pages of two gives every product once, in order.
        let mut walked = Vec::new();
        let mut after = Value::Null;
        loop {
            let (_, body) = server.graphql(SEARCH, json!({ "filter": { "market": MARKET }, "sort": "PRICE_ASC", "first": 2, "after": after })).await;
            walked.extend(names(&body, "products"));
            let info = &body["data"]["products"]["pageInfo"];
            if info["hasNextPage"] != true { break; }
            after = info["endCursor"].clone();
        }
        assert_eq!(walked, vec!["有机西兰花", "洪湖莲藕", "潜江清水小龙虾", "麻辣龙虾尾", "鲜活大闸蟹"]);

        // Home feed: below the category's median price first (潜江清水小龙虾 in 虾蟹,
        // 有机西兰花 in 蔬菜), each group by sales.
        let mut feed = Vec::new();
        let mut after = Value::Null;
        loop {
            let (_, body) = server.graphql(FEED, json!({ "first": 2, "after": after })).await;
            feed.extend(names(&body, "homeFeed"));
            let info = &body["data"]["homeFeed"]["pageInfo"];
            if info["hasNextPage"] != true { break; }
            after = info["endCursor"].clone();
        }
        assert_eq!(feed, vec!["潜江清水小龙虾", "有机西兰花", "麻辣龙虾尾", "鲜活大闸蟹", "洪湖莲藕"]);

        let (_, body) = server.graphql(SEARCH, json!({ "filter": { "market": MARKET }, "first": 101 })).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    }
}

on_both_backends! {
    async fn concurrent_reservations_never_oversell_and_suspension_is_undone_by_renewal(db: TestDb) {
        use shiji::store::catalogue::{commit_sale, release, reserve, restore_listings, suspend_listings};

        let (server, root) = market(&db).await;
        let (_, shrimp) = seafood(&server, &root).await;
        let (merchant, owner) = shop(&server, &db, &root, "stock@shiji.example", "active").await;
        let payload = create(&server, &owner, crayfish(&merchant, &shrimp)).await;
        let id = payload["product"]["id"].as_str().unwrap().to_string();
        let variant = payload["product"]["variants"][0]["id"].as_str().unwrap().to_string();
        server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
        let (_, body) = server.graphql_as(&owner, ADJUST, json!({ "id": variant, "delta": 10, "reason": "RESTOCK" })).await;
        assert_eq!(body["data"]["adjustStock"]["userErrors"], json!([]), "{body}");

        let mut config = shiji::config::Config {
            data_dir: db.data_dir.path().to_path_buf(),
            ..Default::default()
        };
        config.database.url = db.url.clone();
        let store = shiji::server::open_store(&config).await.expect("store");

        // 50 checkouts at once for one unit each of 10 available: exactly 10 succeed.
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                let variant = variant.clone();
                tokio::spawn(async move {
                    let mut tx = store.begin().await.expect("begin");
                    let ok = reserve(&mut tx, &variant, 1).await.expect("reserve");
                    tx.commit().await.expect("commit");
                    ok
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap() { won += 1; }
        }
        assert_eq!(won, 10);
        let stock = |body: &Value| body["data"]["product"]["variants"][0]["stock"].clone();
        let (_, body) = server.graphql_as(&owner, &product_query(), json!({ "id": id })).await;
        assert_eq!(stock(&body)["available"], 0, "{body}");
        assert_eq!(stock(&body)["reserved"], 10, "{body}");

        // A reservation given back is sellable again; a sale leaves the shelf.
        let mut tx = store.begin().await.unwrap();
        assert!(release(&mut tx, &variant, 2).await.unwrap());
        assert!(commit_sale(&mut tx, &variant, 8).await.unwrap());
        assert!(!commit_sale(&mut tx, &variant, 1).await.unwrap(), "nothing more is reserved");
        tx.commit().await.unwrap();
        let (_, body) = server.graphql_as(&owner, &product_query(), json!({ "id": id })).await;
        assert_eq!((stock(&body)["onHand"].as_i64(), stock(&body)["reserved"].as_i64(), stock(&body)["available"].as_i64()), (Some(2), Some(0), Some(2)), "{body}");

        // An expired qualification takes the products that need it off sale until renewed.
        let codes = vec!["shrimp-crab".to_string()];
        assert_eq!(suspend_listings(&store, &merchant, &codes, "证照过期：食品经营许可证").await.unwrap(), 1);
        let (_, body) = server.graphql(SEARCH, json!({ "filter": { "market": MARKET, "query": "小龙虾" } })).await;
        assert!(names(&body, "products").is_empty(), "{body}");
        let (_, body) = server.graphql_as(&owner, &product_query(), json!({ "id": id })).await;
        assert_eq!(body["data"]["product"]["status"], "SUSPENDED", "{body}");
        assert_eq!(body["data"]["product"]["suspendedReason"], "证照过期：食品经营许可证");
        let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
        assert_eq!(body["data"]["setProductStatus"]["userErrors"][0]["code"], "PRODUCT_SUSPENDED", "{body}");
        assert_eq!(restore_listings(&store, &merchant, &codes, "其他原因").await.unwrap(), 0);
        assert_eq!(restore_listings(&store, &merchant, &codes, "证照过期").await.unwrap(), 1);
        let (_, body) = server.graphql(SEARCH, json!({ "filter": { "market": MARKET, "query": "小龙虾" } })).await;
        assert_eq!(names(&body, "products"), vec!["潜江清水小龙虾"]);
        store.close().await;
    }
}

on_both_backends! {
    async fn public_pages_are_served_from_the_page_cache_for_a_moment(db: TestDb) {
        let (server, root) = market_with(&db, &[("SHIJI_CATALOGUE_PAGE_CACHE_MS", "400")]).await;
        let (_, shrimp) = seafood(&server, &root).await;
        let (merchant, owner) = shop(&server, &db, &root, "cache@shiji.example", "active").await;
        let payload = create(&server, &owner, crayfish(&merchant, &shrimp)).await;
        let id = payload["product"]["id"].as_str().unwrap().to_string();
        server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "LISTED" })).await;
        let list = || server.graphql(SEARCH, json!({ "filter": { "market": MARKET } }));
        assert_eq!(names(&list().await.1, "products"), ["潜江清水小龙虾"]);
        // Taken off sale: the page read a moment ago is served again, then not.
        let (_, body) = server.graphql_as(&owner, STATUS, json!({ "id": id, "status": "DRAFT" })).await;
        assert_eq!(body["data"]["setProductStatus"]["product"]["status"], "DRAFT", "{body}");
        assert_eq!(names(&list().await.1, "products"), ["潜江清水小龙虾"], "cached");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(names(&list().await.1, "products").is_empty(), "gone once the moment has passed");
    }
}
