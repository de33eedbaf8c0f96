-- Browse keys (CAT-4): a product's lowest variant price and whether it is on
-- sale (listed by an active merchant) live on the product row, so a page of
-- the public list walks one index in sort order instead of scanning and
-- sorting the whole market. Triggers keep them true whatever writes the
-- variants, the product or the merchant (editing, import, the expiry sweep).

ALTER TABLE products ADD COLUMN min_price_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN on_sale BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE products SET
    min_price_fen = COALESCE(
        (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = products.id), 0),
    on_sale = (status = 'listed' AND EXISTS (
        SELECT 1 FROM merchants m WHERE m.id = products.merchant_id AND m.status = 'active'));

CREATE TRIGGER products_on_sale_after_insert AFTER INSERT ON products BEGIN
    UPDATE products SET on_sale = (NEW.status = 'listed' AND EXISTS (
        SELECT 1 FROM merchants m WHERE m.id = NEW.merchant_id AND m.status = 'active'))
    WHERE id = NEW.id;
END;

CREATE TRIGGER products_on_sale_after_update AFTER UPDATE OF status, merchant_id ON products BEGIN
    UPDATE products SET on_sale = (NEW.status = 'listed' AND EXISTS (
        SELECT 1 FROM merchants m WHERE m.id = NEW.merchant_id AND m.status = 'active'))
    WHERE id = NEW.id;
END;

CREATE TRIGGER merchants_on_sale_after_update AFTER UPDATE OF status ON merchants BEGIN
    UPDATE products SET on_sale = (status = 'listed' AND NEW.status = 'active')
    WHERE merchant_id = NEW.id;
END;

CREATE TRIGGER variants_min_price_after_insert AFTER INSERT ON product_variants BEGIN
    UPDATE products SET min_price_fen = COALESCE(
        (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = NEW.product_id), 0)
    WHERE id = NEW.product_id;
END;

CREATE TRIGGER variants_min_price_after_update AFTER UPDATE OF price_fen, product_id ON product_variants BEGIN
    UPDATE products SET min_price_fen = COALESCE(
        (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = products.id), 0)
    WHERE id IN (OLD.product_id, NEW.product_id);
END;

CREATE TRIGGER variants_min_price_after_delete AFTER DELETE ON product_variants BEGIN
    UPDATE products SET min_price_fen = COALESCE(
        (SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = OLD.product_id), 0)
    WHERE id = OLD.product_id;
END;

-- One index per public sort, each ending on the id like the sort does.
DROP INDEX products_by_market;
CREATE INDEX products_on_sale_by_sales
    ON products (market_code, on_sale, sales_count DESC, created_at DESC, id DESC);
CREATE INDEX products_on_sale_by_newest
    ON products (market_code, on_sale, created_at DESC, id DESC);
CREATE INDEX products_on_sale_by_price
    ON products (market_code, on_sale, min_price_fen, id);
