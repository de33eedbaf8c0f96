-- A write sent as one statement (engine/src/store/batch.rs, `write_all`)
-- ends with shiji_expect: given the rows each of its parts touched and the
-- rows each had to touch (-1: any), it raises SJ001 naming the first part
-- that missed, which aborts the whole statement, so nothing of it stays.
-- A checkout uses it to refuse, in the same round trip that wrote it, an
-- order whose stock or slot was taken meanwhile.
CREATE FUNCTION shiji_expect(touched BIGINT[], expected BIGINT[]) RETURNS BIGINT[]
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. COALESCE(array_length(expected, 1), 0) LOOP
        IF expected[i] >= 0 AND touched[i] <> expected[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'SJ001',
                MESSAGE = 'shiji: a checked write missed at statement ' || (i - 1);
        END IF;
    END LOOP;
    RETURN touched;
END
$$;
