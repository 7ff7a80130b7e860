-- The document conveyor.apply_sales_batch takes, declared once: each list is one object of
-- columns (entry i is the i-th element of every column), parsed with jsonb_populate_record into
-- these types. The worker's encoder declares the same fields in
-- supabase/functions/process-sales/batch_document.ts; a test compares the two (names, order,
-- types). Why columnar: docs/decisions/columnar-batch-document.md.
--
--   manufacturers, categories, product_groups, product_kinds: sales_batch_dictionary
--   products:  sales_batch_products; manufacturer, category, group and kind are 1-based
--              positions in the dictionary lists (null: none)
--   suppliers: sales_batch_suppliers     locations: sales_batch_locations
--   processed: sales_batch_sales; product, supplier and location are 1-based positions
--   rejected, failed: sales_batch_unprocessable
--   done_msg_ids: bigint[], messages whose record is already finished (duplicate deliveries)

create type conveyor.sales_batch_dictionary as (
  key text[],
  name text[],
  input_id bigint[]
);

create type conveyor.sales_batch_products as (
  manufacturer integer[],
  sku text[],
  name text[],
  category integer[],
  "group" integer[],
  kind integer[],
  occurred_at timestamptz[],
  input_id bigint[]
);

create type conveyor.sales_batch_suppliers as (
  key text[],
  name text[],
  tax_id text[],
  input_id bigint[]
);

create type conveyor.sales_batch_locations as (
  city_key text[],
  name_key text[],
  name text[],
  city text[],
  address text[],
  input_id bigint[]
);

create type conveyor.sales_batch_sales as (
  input_id bigint[],
  msg_id bigint[],
  attempts integer[],
  source text[],
  external_id text[],
  occurred_at timestamptz[],
  type text[],
  quantity numeric[],
  unit_price numeric[],
  amount numeric[],
  currency text[],
  product integer[],
  supplier integer[],
  location integer[]
);

create type conveyor.sales_batch_unprocessable as (
  input_id bigint[],
  msg_id bigint[],
  attempts integer[],
  error text[]
);

comment on type conveyor.sales_batch_dictionary is 'Batch document list of a dictionary (manufacturers, categories, product_groups, product_kinds), as columns.';
comment on type conveyor.sales_batch_products is 'Batch document list of products, as columns; dictionary values by 1-based position.';
comment on type conveyor.sales_batch_suppliers is 'Batch document list of suppliers, as columns.';
comment on type conveyor.sales_batch_locations is 'Batch document list of locations, as columns.';
comment on type conveyor.sales_batch_sales is 'Batch document list of normalised sales (processed), as columns; product, supplier and location by 1-based position.';
comment on type conveyor.sales_batch_unprocessable is 'Batch document list of rejected or failed records, as columns.';

-- One product entry of a batch, resolved: dictionary ids, and the stored product if there is
-- one, with whether this record is newer than the attributes it has.
create type conveyor.batch_product as (
  position integer,
  manufacturer_id bigint,
  sku text,
  name text,
  category_id bigint,
  group_id bigint,
  kind_id bigint,
  occurred_at timestamptz,
  input_id bigint,
  product_id bigint,
  newer boolean
);

comment on type conveyor.batch_product is
  'A product entry of a conveyor.apply_sales_batch document, resolved once: dictionary ids, the stored product id (null when new) and whether the entry is newer than its stored attributes.';
