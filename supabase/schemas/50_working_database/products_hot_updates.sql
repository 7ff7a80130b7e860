-- Updating a product's attributes touches no index in the working database, so the update is
-- heap-only (HOT): the production project's indexes on category, group and kind
-- (production/supabase/schemas/read_indexes.sql) are not here, and a fill factor of 70 leaves
-- each page room for the new versions. About 97% of product updates are HOT this way, against
-- 3% with the indexes (docs/decisions/products-hot-updates.md).

alter table public.products set (fillfactor = 70);
