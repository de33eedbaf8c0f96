-- Browse keys (CAT-4): a product's lowest variant price and whether it is on
-- sale (listed by an active merchant) live on the product row, so a page of
-- the public list walks one index in sort order instead of scanning and
-- sorting the whole market. Triggers keep them true whatever writes the
-- variants, the product or the merchant (editing, import, the expiry sweep).

ALTER TABLE products
    ADD COLUMN min_price_fen BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN on_sale BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE products SET
    min_price_fen = COALESCE(
        (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = products.id), 0),
    on_sale = (status = 'listed' AND EXISTS (
        SELECT 1 FROM merchants m WHERE m.id = products.merchant_id AND m.status = 'active'));

CREATE FUNCTION products_set_on_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.on_sale := NEW.status = 'listed' AND EXISTS (
        SELECT 1 FROM merchants m WHERE m.id = NEW.merchant_id AND m.status = 'active');
    RETURN NEW;
END
$$;
CREATE TRIGGER products_on_sale BEFORE INSERT OR UPDATE OF status, merchant_id ON products
    FOR EACH ROW EXECUTE FUNCTION products_set_on_sale();

CREATE FUNCTION merchants_spread_on_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products SET on_sale = (status = 'listed' AND NEW.status = 'active')
    WHERE merchant_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER merchants_on_sale AFTER UPDATE OF status ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_spread_on_sale();

CREATE FUNCTION variants_refresh_min_price() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE products SET min_price_fen = COALESCE(
            (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = OLD.product_id), 0)
        WHERE id = OLD.product_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE products SET min_price_fen = COALESCE(
            (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = NEW.product_id), 0)
        WHERE id = NEW.product_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER variants_min_price AFTER INSERT OR DELETE OR UPDATE OF price_fen, product_id
    ON product_variants FOR EACH ROW EXECUTE FUNCTION variants_refresh_min_price();

-- One index per public sort, each ending on the id like the sort does.
DROP INDEX products_by_market;
CREATE INDEX products_on_sale_by_sales
    ON products (market_code, on_sale, sales_count DESC, created_at DESC, id DESC);
CREATE INDEX products_on_sale_by_newest
    ON products (market_code, on_sale, created_at DESC, id DESC);
CREATE INDEX products_on_sale_by_price
    ON products (market_code, on_sale, min_price_fen, id);
