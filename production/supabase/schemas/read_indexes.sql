-- Indexes the production API reads by. The working database does not carry them: it only writes
-- these tables, and each index there would cost every insert (about 8% of the pipeline's
-- throughput for operations) and keep product updates from being HOT.

create index operations_occurred_at_idx on public.operations (occurred_at);
create index operations_product_id_idx on public.operations (product_id);
create index operations_supplier_id_idx on public.operations (supplier_id);
create index operations_location_id_idx on public.operations (location_id);

create index products_category_id_idx on public.products (category_id);
create index products_group_id_idx on public.products (group_id);
create index products_kind_id_idx on public.products (kind_id);
