-- A counter every change to what viewers browse moves (by trigger, so changes from any
-- path or process count): the storefront keeps the home page and search results in memory
-- while it stands still.
CREATE TABLE catalog_version (n INTEGER NOT NULL);
INSERT INTO catalog_version (n) VALUES (0);
CREATE INDEX titles_live_until ON titles (live_until);

CREATE TRIGGER titles_ins AFTER INSERT ON titles BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER titles_upd AFTER UPDATE ON titles BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER titles_del AFTER DELETE ON titles BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER rails_ins AFTER INSERT ON rails BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER rails_upd AFTER UPDATE ON rails BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER rails_del AFTER DELETE ON rails BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER rail_items_ins AFTER INSERT ON rail_items BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER rail_items_del AFTER DELETE ON rail_items BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER collections_ins AFTER INSERT ON collections BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER collections_upd AFTER UPDATE ON collections BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER collections_del AFTER DELETE ON collections BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER collection_items_ins AFTER INSERT ON collection_items BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER collection_items_del AFTER DELETE ON collection_items BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER artwork_ins AFTER INSERT ON artwork BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER artwork_upd AFTER UPDATE ON artwork BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER artwork_del AFTER DELETE ON artwork BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_genres_ins AFTER INSERT ON title_genres BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_genres_del AFTER DELETE ON title_genres BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_tags_ins AFTER INSERT ON title_tags BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_tags_del AFTER DELETE ON title_tags BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_people_ins AFTER INSERT ON title_people BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER title_people_del AFTER DELETE ON title_people BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER seasons_ins AFTER INSERT ON seasons BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER seasons_upd AFTER UPDATE ON seasons BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER genres_upd AFTER UPDATE ON genres BEGIN UPDATE catalog_version SET n = n + 1; END;
