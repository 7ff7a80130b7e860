-- Production only: indexes the cloud API reads operations by. The working database does not
-- carry them (it only writes operations, and every index slows each insert).

create index if not exists operations_occurred_at_idx on public.operations (occurred_at);
create index if not exists operations_product_id_idx on public.operations (product_id);
create index if not exists operations_supplier_id_idx on public.operations (supplier_id);
create index if not exists operations_location_id_idx on public.operations (location_id);
