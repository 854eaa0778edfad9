-- One flash-sale order, the original way: lock the hot row, check, decrement,
-- insert the order, commit. pgbench runs this once per transaction.
\set uid random(1, 1000000)
BEGIN;
SELECT stock FROM baseline.product WHERE id = 1 FOR UPDATE;
UPDATE baseline.product SET stock = stock - 1, updated_at = now() WHERE id = 1 AND stock > 0;
INSERT INTO baseline.orders (product_id, user_id, quantity, total, status)
VALUES (1, :uid, 1, 19900, 'PENDING_PAYMENT');
COMMIT;
