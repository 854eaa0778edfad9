-- Baseline for the flash-sale benchmark: the original system's approach.
-- Every buyer locks the same product row (SELECT ... FOR UPDATE), decrements it,
-- inserts an order and commits alone. Lives in its own schema `baseline` so it
-- never collides with Surge's tables. Re-running this file resets everything.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS baseline CASCADE;
CREATE SCHEMA baseline;

CREATE TABLE baseline.product (
    id          bigint PRIMARY KEY,
    name        text        NOT NULL,
    price       bigint      NOT NULL,
    stock       bigint      NOT NULL CHECK (stock >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE baseline.orders (
    id          bigserial   PRIMARY KEY,
    product_id  bigint      NOT NULL REFERENCES baseline.product (id),
    user_id     bigint      NOT NULL,
    quantity    int         NOT NULL,
    total       bigint      NOT NULL,
    status      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX baseline_orders_user_idx ON baseline.orders (user_id);

-- One hot row. Stock is effectively unlimited so every transaction takes the
-- lock and writes: we measure the lock-queue throughput, not the sell-out.
INSERT INTO baseline.product (id, name, price, stock)
VALUES (1, 'flash-sale item', 19900, 1000000000);
