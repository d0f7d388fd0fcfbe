-- Who else credits a person: asked when credits change or a title goes, to remove people
-- credited nowhere. Without it each question reads every credit.
CREATE INDEX title_people_person ON title_people (person_id);
