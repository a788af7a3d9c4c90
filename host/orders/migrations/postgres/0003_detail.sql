-- The stream's rendition variant that shows a drop's product up close
-- (a `detail-...` crop of the frame): the viewer page composes it, with
-- the price tag, over the live picture. NULL when the drop has none.

ALTER TABLE drops ADD COLUMN detail TEXT;
