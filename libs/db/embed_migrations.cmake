# Writes OUT: a C++ source with every migration file (FILES, separated by |) as a raw string, in
# version order.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "// Generated from libs/db/migrations/*.sql. Do not edit.\n#include \"libs/db/migrations.h\"\n\nnamespace aso::db {\n\nconst std::vector<Migration>& EmbeddedMigrations() {\n  static const auto* migrations = new std::vector<Migration>{\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${name})
  math(EXPR version "${version}")
  file(READ ${f} sql)
  string(APPEND body "      {${version}, \"${name}\", R\"ASO_SQL(${sql})ASO_SQL\"},\n")
endforeach()
string(APPEND body "  };\n  return *migrations;\n}\n\n}  // namespace aso::db\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
