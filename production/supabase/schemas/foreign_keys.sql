-- The production project checks the final tables' references with foreign keys: the API reads
-- here, and PostgREST embeds related rows through them. (The working database keeps the same
-- references by construction: supabase/schemas/50_working_database/references_by_construction.sql.)

alter table public.products
  add constraint products_manufacturer_id_fkey foreign key (manufacturer_id) references public.manufacturers (id),
  add constraint products_category_id_fkey foreign key (category_id) references public.categories (id),
  add constraint products_group_id_fkey foreign key (group_id) references public.product_groups (id),
  add constraint products_kind_id_fkey foreign key (kind_id) references public.product_kinds (id);

alter table public.operations
  add constraint operations_source_fkey foreign key (source) references public.shops (code),
  add constraint operations_product_id_fkey foreign key (product_id) references public.products (id),
  add constraint operations_supplier_id_fkey foreign key (supplier_id) references public.suppliers (id),
  add constraint operations_location_id_fkey foreign key (location_id) references public.locations (id);
