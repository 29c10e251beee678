CREATE TABLE host_orders (
    id      bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES host_users (id)
);
