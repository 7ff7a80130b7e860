-- Demo and test data for the working database: the shops records may come from. In production
-- shops are mastered in the cloud project and pulled by the sync. Applied by the demo and the
-- test suite (and by `supabase db reset` under `supabase start`). Safe to apply again.
insert into public.shops (code, name, city, timezone, active)
values
  ('moba', 'Moba', 'Краснодар', 'Europe/Moscow', true),
  ('partsdirect', 'Parts Direct', 'Екатеринбург', 'Asia/Yekaterinburg', true),
  ('gsmcenter', 'GSM Center', 'Новосибирск', 'Asia/Novosibirsk', true),
  ('remzona', 'РемЗона', 'Москва', 'Europe/Moscow', true),
  ('fixberlin', 'Fix Berlin', 'Berlin', 'Europe/Berlin', true),
  ('closedshop', 'Closed Shop', 'Самара', 'Europe/Samara', false)
on conflict (code) do update
  set name = excluded.name, city = excluded.city, timezone = excluded.timezone,
      active = excluded.active, updated_at = now();
